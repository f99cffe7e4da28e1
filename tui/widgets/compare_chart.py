"""Several runs' curves on one plotext chart: val or train perplexity, against epochs, seconds or tokens."""
from __future__ import annotations

import math

from textual_plotext import PlotextPlot

from rnn_tui.engine.summary import Curve
from rnn_tui.tui.run_table import MARKERS
from rnn_tui.tui.widgets.perplexity_chart import ascii_text

X_AXES = ("epoch", "time", "tokens")
X_LABELS = {"epoch": "epoch", "time": "seconds", "tokens": "tokens seen"}
COLORS = ["cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white"]


class CompareChart(PlotextPlot):
    def __init__(self, curves: list[Curve], ascii_only: bool = False, plain: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.curves = curves
        self.ascii_only = ascii_only
        self.plain = plain  # NO_COLOR: told apart by their markers
        self.metric = "val"
        self.x_axis = "epoch"
        self.log_scale = False
        self.series: list[tuple[str, list, list]] = []  # (label, x, y) as drawn

    def on_mount(self) -> None:
        self.redraw()

    def toggle_metric(self) -> None:
        self.metric = "train" if self.metric == "val" else "val"
        self.redraw()

    def next_x_axis(self) -> None:
        self.x_axis = X_AXES[(X_AXES.index(self.x_axis) + 1) % len(X_AXES)]
        self.redraw()

    def toggle_log_scale(self) -> None:
        self.log_scale = not self.log_scale
        self.redraw()

    def redraw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(f"{self.metric} perplexity" + (" (log)" if self.log_scale else ""))
        plt.xlabel(X_LABELS[self.x_axis])
        plt.yscale("log" if self.log_scale else "linear")
        self.series = []
        for i, curve in enumerate(self.curves):
            x = {"epoch": curve.epochs, "time": curve.elapsed_s, "tokens": curve.tokens}[self.x_axis] or []
            y = curve.val if self.metric == "val" else curve.train
            points = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and math.isfinite(b)]
            self.series.append((curve.label, [p[0] for p in points], [p[1] for p in points]))
            if points:
                marker = MARKERS[i % len(MARKERS)] if self.plain or self.ascii_only else "braille"
                plt.plot([p[0] for p in points], [p[1] for p in points], label=curve.label, marker=marker,
                         color=None if self.plain else COLORS[i % len(COLORS)])
        if not any(s[1] for s in self.series):
            plt.plot([0], [1], marker=" ")  # an empty frame: none of the runs has these values
        self.refresh()

    def render(self):
        rendered = super().render()
        return ascii_text(rendered) if self.ascii_only else rendered
