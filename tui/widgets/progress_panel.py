"""Progress: status, epoch k/N, a minibatch progress bar, tokens/s, the learning rate when it moves, ETA."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

from ..headless import format_seconds


class ProgressPanel(Vertical):
    def compose(self) -> ComposeResult:
        yield Label("idle: press ctrl+r to start", id="status")
        yield ProgressBar(total=1, show_eta=False, id="batches")  # a definite bar: no idle animation
        yield Label("", id="speed")

    def set_status(self, text: str) -> None:
        self.query_one("#status", Label).update(Text(text))  # user text (paths, errors): never markup

    def show_progress(self, epoch: int, epochs: int, batch: int, batches: int, tokens_per_sec: float,
                      eta_s: float | None = None, lr: float | None = None) -> None:
        bar = self.query_one("#batches", ProgressBar)
        bar.update(total=batches, progress=batch)
        eta = f"  eta {format_seconds(eta_s)}" if eta_s is not None else ""
        rate = f"  lr {lr:.2g}" if lr is not None else ""
        # several times a second while training: a fixed-size label repaints without a relayout of the screen
        self.query_one("#speed", Label).update(f"epoch {epoch}/{epochs}  {tokens_per_sec:,.0f} tokens/s{eta}{rate}",
                                               layout=False)
