"""Progress, in three lines that always fit 80x24: what the run is doing; the epoch under way with its
minibatch bar, time spent and time left; speed, best validation so far, gradient norm and learning rate."""
from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar

from rnn_tui.tui.formatting import NA, format_number, format_seconds


def compact_rate(tokens_per_sec: float | None) -> str:
    """``950``, ``12.3k``, ``1.14M``: a speed in a few columns."""
    if not isinstance(tokens_per_sec, (int, float)) or not math.isfinite(tokens_per_sec):
        return NA
    if tokens_per_sec >= 1e6:
        return f"{tokens_per_sec / 1e6:.3g}M"
    return f"{tokens_per_sec / 1e3:.3g}k" if tokens_per_sec >= 1e4 else f"{tokens_per_sec:,.0f}"


class ProgressPanel(Vertical):
    """Shows the latest of each figure: an event that tells some (a pause: where it stopped) keeps the rest."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.figures: dict = {}

    def compose(self) -> ComposeResult:
        yield Label("idle: press ctrl+r to start", id="status")
        with Horizontal(id="progress-row"):
            yield ProgressBar(total=1, show_eta=False, id="batches")  # a definite bar: no idle animation
            yield Label("", id="clock")
        yield Label("", id="speed")

    def set_status(self, text: str) -> None:
        self.query_one("#status", Label).update(Text(text))  # user text (paths, errors): never markup

    def reset(self, **figures) -> None:
        """A new run on screen: none of the last one's figures."""
        self.figures = {}
        self.show_progress(**figures)

    def show_progress(self, **figures) -> None:
        """``epoch``, ``epochs``, ``batch`` (None: the epoch is done), ``batches``, ``tokens_per_sec``,
        ``elapsed_s``, ``eta_s``, ``grad_norm``, ``lr``, ``best_val`` (perplexity): those given replace the ones shown."""
        self.figures.update(figures)
        f = self.figures
        total = f.get("batches") or 1
        self.query_one("#batches", ProgressBar).update(total=total, progress=total if f.get("batch") is None
                                                       else f["batch"])
        epoch = f"{f['epoch']}/{f.get('epochs', NA)}" if f.get("epoch") is not None else NA
        # several times a second while training: fixed-size labels repaint without a relayout of the screen
        self.query_one("#clock", Label).update(
            f"epoch {epoch}  {format_seconds(f.get('elapsed_s'))}, eta {format_seconds(f.get('eta_s'))}",
            layout=False)
        self.query_one("#speed", Label).update(
            f"{compact_rate(f.get('tokens_per_sec'))} tok/s  best val {format_number(f.get('best_val'), '.3f')}  "
            f"grad {format_number(f.get('grad_norm'), '.3g')}  lr {format_number(f.get('lr'), '.2g')}", layout=False)
