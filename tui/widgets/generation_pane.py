"""The live generation pane: each sample, and on-demand text streamed as it is produced.

``Log`` does not wrap, and generated text has no spaces to wrap at, so lines are broken at the
pane's width here: a 200-character sample in an 80x24 terminal stays readable.
"""
from __future__ import annotations

from textual.widgets import Log


class GenerationPane(Log):
    _column = 0  # characters on the line being streamed

    def add_sample(self, title: str, text: str) -> None:
        self.begin_stream(title)
        self.stream(text + "\n")

    def begin_stream(self, title: str) -> None:
        """A title line (clipped to the width), then what ``stream`` writes."""
        if self._column:
            self.write("\n")
        title = f"── {title}"
        width = self._line_width()
        self.write((title if len(title) <= width else title[: width - 1] + "…") + "\n")
        self._column = 0

    def _line_width(self) -> int:
        return max(10, self.scrollable_content_region.width - 1)

    def stream(self, piece: str) -> None:
        width = self._line_width()
        out = []
        for char in piece:
            if char == "\n":
                self._column = 0
            elif self._column >= width:
                out.append("\n")
                self._column = 1
            else:
                self._column += 1
            out.append(char)
        self.write("".join(out))
