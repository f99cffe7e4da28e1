"""The live generation pane: each sample, and on-demand text streamed as it is produced."""
from __future__ import annotations

from textual.widgets import Log


class GenerationPane(Log):
    def add_sample(self, title: str, text: str) -> None:
        self.write_line(f"── {title}")
        self.write_line(text)

    def begin_stream(self, title: str) -> None:
        self.write_line(f"── {title}")

    def stream(self, piece: str) -> None:
        self.write(piece)
