"""``rnn-tui runs`` and ``rnn-tui compare``: every run at a glance, and runs side by side, as text."""
from __future__ import annotations

import json
import math
import os

import click

from rnn_tui.engine.run_index import index_dir
from rnn_tui.engine.runs import RunDir, runs_root
from rnn_tui.engine.summary import Curve, RunSummary, compare_runs, summarize_all
from rnn_tui.tui.formatting import NA, format_number, text_table
from rnn_tui.tui.run_table import MARKERS, NARROW, NARROW_WIDTH, RIGHT_ALIGNED, RUNS_HEADER, runs_row

def runs_table(summaries: list[RunSummary], wide: bool) -> str:
    """``rnn-tui runs``: the runs as a table of 80 columns (the note cut to fit), or of every column."""
    header = RUNS_HEADER if wide else NARROW
    rows = [[runs_row(s)[name] for name in header] for s in summaries]
    right = {i for i, name in enumerate(header) if name in RIGHT_ALIGNED}
    return text_table(header, rows, right, width=None if wide else NARROW_WIDTH, flexible=header.index("note"))


def run_runs(root: str | None, sort: str, as_json: bool, wide: bool = False) -> int:
    summaries = summarize_all(root, sort)
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return 0
    if not summaries:
        click.echo(f"no runs under {RunDir(root or runs_root()).path}" + ("" if root else f" or in {index_dir()}"))
        return 0
    click.echo(runs_table(summaries, wide))
    notes = [f"{s.name}: {s.problem}" for s in summaries if s.problem]
    if notes:
        click.echo("\n" + "\n".join(notes))
    return 0


def run_compare(paths: tuple[str, ...], plot: bool, metric: str, x_axis: str, as_json: bool) -> int:
    comparison = compare_runs(list(paths))
    labels, differing, configs, summaries = (comparison.labels, comparison.differing, comparison.configs,
                                             comparison.summaries)
    windows = comparison.best_window_losses()
    if as_json:
        click.echo(json.dumps({"differing": differing, "runs": [
            {"label": label, "options": {name: config.get(name) for name in differing}, **summary.to_dict(),
             "best_val_loss_windows": window}
            for label, config, summary, window in zip(labels, configs, summaries, windows)]}, ensure_ascii=False))
        return 0
    cells = [runs_row(s) for s in summaries]
    rows = [[name, *(str(config.get(name, NA)) for config in configs)] for name in differing]
    rows += [["status", *(s.status for s in summaries)],
             ["epochs done", *(c["epochs"] for c in cells)],
             ["final train", *(c["train"] for c in cells)],
             ["best val (ep)", *(c["best val (ep)"] for c in cells)],
             ["tokens/s", *(c["tokens/s"] for c in cells)]]
    if any(window is not None for window in windows):  # --eval windows:N:L: nanoGPT's measure beside
        rows.append(["best val, stateful (nats)", *(format_number(math.log(s.best_val_perplexity), ".4f")
                                                     if s.best_val_perplexity else NA for s in summaries)])
        rows.append(["best val, windows (nats)", *(format_number(w, ".4f") for w in windows)])
    click.echo(text_table(["", *labels], rows, right=set(range(1, len(labels) + 1))))
    if plot:
        click.echo(plot_curves(comparison.curves(), metric, x_axis))
    return 0


def plot_curves(curves: list[Curve], metric: str, x_axis: str, width: int | None = None) -> str:
    """The runs' ``metric`` (val or train perplexity) against ``x_axis`` (epoch, time, tokens), by plotext."""
    import plotext as plt
    plt.clear_figure()
    plain = bool(os.environ.get("NO_COLOR"))
    if plain:
        plt.theme("clear")
    for i, curve in enumerate(curves):
        x = {"epoch": curve.epochs, "time": curve.elapsed_s, "tokens": curve.tokens}[x_axis]
        y = curve.val if metric == "val" else curve.train
        if not x:
            continue
        points = [(a, b) for a, b in zip(x, y) if a is not None and b is not None and math.isfinite(b)]
        if points:
            plt.plot([p[0] for p in points], [p[1] for p in points], label=curve.label,
                     marker=MARKERS[i % len(MARKERS)] if plain else "braille")
    plt.title(f"{metric} perplexity")
    plt.xlabel({"epoch": "epoch", "time": "seconds", "tokens": "tokens seen"}[x_axis])
    plt.plotsize(width or min(100, plt.terminal_width() or 80), 20)
    return plt.build()
