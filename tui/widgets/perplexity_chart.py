"""The perplexity chart: train and validation per epoch, and the corpus's floor when it has one.

It holds perplexities; shown as loss (ctrl+n), each is its logarithm, the cross-entropy in nats. Its
border says which, and the legend names each line; without colour (NO_COLOR, ``--ascii``) the lines
are told apart by their markers."""
from __future__ import annotations

import math

from rich.text import Text
from textual_plotext import PlotextPlot

from rnn_tui.tui.coalesce import Coalesced

# Box-drawing and braille characters plotext uses, mapped to ASCII for --ascii terminals.
_ASCII = str.maketrans({"─": "-", "│": "|", "┌": "+", "┐": "+", "└": "+", "┘": "+", "┬": "+", "┴": "+",
                        "├": "+", "┤": "+", "┼": "+", "•": "*", "▪": "#", "●": "o"})


class PerplexityChart(PlotextPlot):
    # A plotext redraw costs the UI process tens of milliseconds of CPU taken from training, so
    # fast epochs are coalesced into at most one redraw per interval (the last point always shows).
    REDRAW_INTERVAL_S = 1.0

    def __init__(self, ascii_only: bool = False, plain: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.ascii_only = ascii_only
        self.plain = plain  # NO_COLOR: no colour tells train from val
        self.epochs: list[int] = []
        self.train: list[float] = []
        self.val: list[float | None] = []
        self.floor: float | None = None
        self.log_scale = False
        self.show_loss = False  # the field's metric: nats, ln(perplexity)
        self.total_epochs = 0  # the x axis spans the whole run from the start
        self._redraws = Coalesced(self, self.REDRAW_INTERVAL_S, self._draw)

    def on_mount(self) -> None:
        self.redraw()

    def reset(self, floor: float | None = None, history: list[dict] | None = None, total_epochs: int = 0) -> None:
        self.epochs, self.train, self.val, self.floor = [], [], [], floor
        self.total_epochs = total_epochs
        for record in history or []:
            self.add_point(record["epoch"], record["train_perplexity"], record.get("val_perplexity"),
                           record.get("batch"), record.get("batches"), redraw=False)
        self.redraw()

    def points(self, up_to_epoch: int) -> list[dict]:
        """The points drawn up to ``up_to_epoch`` (a resumed run trains the later ones again)."""
        return [{"epoch": e, "train_perplexity": t, "val_perplexity": v}
                for e, t, v in zip(self.epochs, self.train, self.val) if e <= up_to_epoch]

    def add_point(self, epoch: int, train: float, val: float | None, batch: int | None = None,
                  batches: int | None = None, redraw: bool = True) -> None:
        """An epoch's point; one ``--max-time`` ended early sits at the fraction it trained (4.3, not 5)."""
        cut = batch is not None and batches and batch < batches
        self.epochs.append(epoch - 1 + batch / batches if cut else epoch)
        self.train.append(train)
        self.val.append(val)
        if redraw:
            self._redraws.request()

    def toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.redraw()

    def toggle_loss(self) -> None:
        self.show_loss = not self.show_loss
        self.redraw()

    def _shown(self, values: list) -> list:
        if not self.show_loss:
            return values
        return [math.log(v) if v is not None and math.isfinite(v) and v > 0 else None for v in values]

    def _downsampled(self, values: list) -> tuple[list, list]:
        """At most about one point per column: redraws stay cheap however long the run."""
        width = max(10, self.size.width - 10)
        step = max(1, math.ceil(len(self.epochs) / width))
        picked = list(range(0, len(self.epochs), step))
        if picked and picked[-1] != len(self.epochs) - 1:
            picked.append(len(self.epochs) - 1)
        pairs = [(self.epochs[i], values[i]) for i in picked if values[i] is not None and math.isfinite(values[i])]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def redraw(self) -> None:
        """Now (a reset, the log-scale key); points from a run go through ``add_point``."""
        self._redraws.run()

    def title(self) -> str:
        return ("loss (nats)" if self.show_loss else "perplexity") + (" (log)" if self.log_scale else "")

    def _markers(self) -> tuple[str, str, str]:
        """(train, val, floor): braille told apart by colour, else characters told apart by shape."""
        if self.ascii_only:
            return "*", "o", "-"
        return ("•", "o", "─") if self.plain else ("braille", "braille", "─")

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        self.border_title = self.title()
        plt.xlabel("epoch")
        plt.yscale("log" if self.log_scale else "linear")
        train_marker, val_marker, floor_marker = self._markers()
        color = (lambda name: None) if self.plain else (lambda name: name)
        train, val = self._shown(self.train), self._shown(self.val)
        floor = (math.log(self.floor) if self.show_loss else self.floor) if self.floor and self.floor > 1 else None
        first = min([1, *self.epochs])  # below 1: an epoch --max-time cut short sits at the fraction it trained
        if floor:
            plt.plot([first, max(self.total_epochs, len(self.epochs), 2)], [floor, floor], label="floor",
                     marker=floor_marker, color=color("green"))
            if not self.log_scale:  # plotext 5.3 fails to place the legend on a log axis given ylim
                top = max([v for v in train + val if v is not None and math.isfinite(v)], default=floor * 2)
                plt.ylim(floor * 0.9, max(top, floor * 1.1))  # keep the floor off the frame
        x, y = self._downsampled(train)
        if x:
            plt.plot(x, y, label="train", marker=train_marker, color=color("cyan"))
        xv, yv = self._downsampled(val)
        if xv:
            plt.plot(xv, yv, label="val", marker=val_marker, color=color("orange"))
        if self.total_epochs > 1:
            plt.xlim(first, self.total_epochs)  # plotext fails on a point outside its limits
        if not x:  # an empty frame before the first epoch: the run's epochs, no made-up values
            plt.plot([1], [floor or 1], marker=" ")
            if not floor:
                plt.yticks([])
            if self.total_epochs <= 1:
                plt.xticks([])
        self.refresh()

    def render(self):
        rendered = super().render()
        return ascii_text(rendered) if self.ascii_only else rendered


def ascii_text(rendered):
    """plotext's drawing with ASCII in place of box-drawing and braille characters."""
    if isinstance(rendered, Text):
        # One character for one: the styled spans stay aligned.
        return Text(rendered.plain.translate(_ASCII), spans=rendered.spans, style=rendered.style)
    return rendered
