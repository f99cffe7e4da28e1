"""``rnn-tui runs`` and ``rnn-tui compare``: every run at a glance, and runs side by side, as text."""
from __future__ import annotations

import json
import math
import os
import time

import click

from ..engine.summary import Curve, RunSummary, compare_runs, summarize_all
from ..engine.watch import is_run_folder
from .headless import InputError

NA = "N/A"
MARKERS = ["*", "+", "x", "o", "#", "@", "%", "&"]  # one per run where colour is not to be used


def _number(value, spec: str) -> str:
    return NA if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return NA


def _table(rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def runs_row(s: RunSummary) -> list[str]:
    epochs = f"{_number(s.epochs_done, 'd')}/{_number(s.epochs, 'd')}" if s.epochs_done or s.epochs else NA
    best = f"{s.best_val_perplexity:.3f} ({s.best_val_epoch})" if s.best_val_perplexity is not None else NA
    shape = f"{s.hidden}x{s.layers}" if s.hidden else NA
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.started_at)) if s.started_at else NA
    return [s.name, s.status, s.model or NA, shape, s.corpus or NA, epochs, best, _number(s.train_perplexity, ".3f"),
            _number(s.tokens_per_sec, ",.0f"), (s.device or NA).split(" (")[0], started, _size(s.size_bytes), s.note]


RUNS_HEADER = ["run", "status", "model", "hidden", "corpus", "epochs", "best val (epoch)", "train", "tokens/s",
               "device", "started", "size", "note"]


def run_runs(root: str | None, sort: str, as_json: bool) -> int:
    summaries = summarize_all(root, sort)
    if as_json:
        for summary in summaries:
            click.echo(json.dumps(summary.to_dict(), ensure_ascii=False))
        return 0
    if not summaries:
        click.echo(f"no runs under {root or os.environ.get('RNN_TUI_RUNS') or 'runs'}/")
        return 0
    click.echo(_table([RUNS_HEADER] + [runs_row(s) for s in summaries], right={5, 6, 7, 8, 11}))
    notes = [f"{s.name}: {s.problem}" for s in summaries if s.problem]
    if notes:
        click.echo("\n" + "\n".join(notes))
    return 0


def run_compare(paths: tuple[str, ...], plot: bool, metric: str, x_axis: str, as_json: bool) -> int:
    if len(paths) < 2:
        raise InputError("compare needs two runs or more")
    for path in paths:
        if not is_run_folder(path):
            raise InputError(f"{path} is not a run folder (it has no config.json or status.json)")
    comparison = compare_runs(list(paths))
    labels, differing, configs, summaries = (comparison.labels, comparison.differing, comparison.configs,
                                             comparison.summaries)
    if as_json:
        click.echo(json.dumps({"differing": differing, "runs": [
            {"label": label, "options": {name: config.get(name) for name in differing}, **summary.to_dict()}
            for label, config, summary in zip(labels, configs, summaries)]}, ensure_ascii=False))
        return 0
    rows = [["", *labels]]
    rows += [[name, *(str(config.get(name, NA)) for config in configs)] for name in differing]
    rows += [["status", *(s.status for s in summaries)],
             ["epochs done", *(runs_row(s)[5] for s in summaries)],
             ["final train", *(runs_row(s)[7] for s in summaries)],
             ["best val (epoch)", *(runs_row(s)[6] for s in summaries)],
             ["tokens/s", *(runs_row(s)[8] for s in summaries)]]
    click.echo(_table(rows, right=set(range(1, len(rows[0])))))
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
