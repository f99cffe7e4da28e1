"""Runs side by side: one summary per run folder, their curves, and what differs between them.

Read from the files alone, without torch: ``config.json`` and ``status.json``, where a run keeps its
own summary, so ``rnn-tui runs`` lists hundreds of folders at once (``metrics.jsonl`` only for a
folder older than that). A folder that is not a run, or whose files are
damaged, is summarized as such: a listing never fails on one bad folder.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from rnn_tui.engine.run_index import known_run_folders, unregister
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.phases import RunState
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.schema import Damaged, MetricsLine, RunStatus, conform, is_number
from rnn_tui.engine.watch import is_run_folder, run_info

# what `rnn-tui runs --sort` takes, and the summary field each one sorts by
SORT_KEYS = {"started": "started_at", "name": "name", "status": "status", "model": "model",
             "epochs": "epochs_done", "val": "best_val_perplexity", "train": "train_perplexity",
             "speed": "tokens_per_sec", "size": "size_bytes"}


@dataclass
class RunSummary:
    """One line of ``rnn-tui runs``; ``None`` where the run does not tell (shown as N/A)."""
    name: str
    path: str
    status: str                 # live | completed | stopped | interrupted | diverged | error | gone | corrupt | not a run
    model: str | None = None
    hidden: int | None = None
    layers: int | None = None
    corpus: str | None = None
    epochs_done: int | None = None
    epochs: int | None = None
    best_val_perplexity: float | None = None
    best_val_epoch: int | None = None
    best_val_loss_windows: float | None = None  # nats: --eval windows:N:L's measure, nanoGPT's
    train_perplexity: float | None = None
    tokens_per_sec: float | None = None
    device: str | None = None
    started_at: float | None = None  # Unix seconds
    size_bytes: int = 0
    problem: str | None = None  # why a folder is corrupt or not a run
    note: str = ""              # the user's own words on the run (note.txt)

    def to_dict(self) -> dict:
        return asdict(self)


def read_metrics(run: RunDir) -> tuple[list[dict], int]:
    """The per-epoch records of ``metrics.jsonl``, and how many of its lines are damaged (not JSON, or a
    field of the wrong type: engine/schema.py): those are left out, the rest are read."""
    try:
        lines = [line for line in run.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if line.strip()]
    except OSError:
        return [], 0
    try:  # the whole file in one parse (the usual case, several times faster); line by line if it is damaged
        parsed = json.loads("[" + ",".join(lines) + "]")
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                parsed.append(None)
    records = []
    for record in parsed:
        try:
            conform(MetricsLine, record, "metrics.jsonl")
        except Damaged:
            continue
        records.append(record)
    return records, len(parsed) - len(records)


NOTE_MAX_CHARS = 200


def read_note(run: RunDir) -> str:
    try:
        return run.note_path.read_text(encoding="utf-8", errors="replace").strip()[:NOTE_MAX_CHARS]
    except OSError:
        return ""


def write_note(path: str | os.PathLike, text: str) -> None:
    """Keep a short note on the run in its folder (an empty one removes it)."""
    run = RunDir(path)
    text = " ".join(text.split())[:NOTE_MAX_CHARS]
    if text:
        run.note_path.write_text(text + "\n", encoding="utf-8")
    else:
        run.note_path.unlink(missing_ok=True)


def delete_run(path: str | os.PathLike) -> None:
    """Remove a run folder; ValueError, for the user, if it is live or not a run folder."""
    if not is_run_folder(path):
        raise ValueError(f"{path} is not a run folder: not deleted")
    if run_info(path).state == RunState.LIVE:
        raise ValueError(f"{Path(path).name} is training: stop it first")
    shutil.rmtree(path)
    unregister(path)


def best_val(records: list[dict]) -> dict | None:
    """The record with the lowest finite validation perplexity (the earliest of equals), or None."""
    with_val = [r for r in records if is_number(r.get("val_perplexity"))]
    return min(with_val, key=lambda r: r["val_perplexity"], default=None)


def _folder_size(path: Path) -> int:
    total = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                except OSError:
                    continue
    except OSError:  # a folder that cannot be read: its size is not known, and not a reason to fail
        pass
    return total


def summarize(path: str | os.PathLike) -> RunSummary:
    run = RunDir(path)
    summary = RunSummary(name=run.path.name, path=str(run.path), status="not a run",
                         size_bytes=_folder_size(run.path))
    if not is_run_folder(run.path):
        summary.problem = "no config.json or status.json"
        return summary
    summary.note = read_note(run)
    config, config_problem = run.load(run.config_path, TrainConfig)  # each file checked against its schema
    _, status_problem = run.load(run.status_path, RunStatus)
    info = run_info(run.path)
    summary.problem = config_problem or status_problem or (None if config else "config.json is missing")
    if summary.problem:  # listed as damaged, with the reason; the rest of the table is not its concern
        summary.status = "corrupt"
    else:
        summary.status = {"live": "live", "gone": "gone"}.get(info.state) or info.outcome or "gone"
    status = info.status
    config = config or {}
    if "best_val_epoch" in status:  # kept up to date by the run itself (engine/live.py)
        last = {name: status.get(name) for name in ("epoch", "train_perplexity", "tokens_per_sec")}
        best = {"epoch": status["best_val_epoch"], "val_perplexity": status["best_val_perplexity"]}
        summary.best_val_loss_windows = (status["best_val_loss_windows"] if "best_val_loss_windows" in status
                                         else best_window_loss(read_metrics(run)[0]))  # an older status.json
    else:  # a folder from before status.json kept them: its metrics tell
        records, damaged = read_metrics(run)
        if damaged:
            summary.problem = summary.problem or f"{damaged} unreadable line(s) in metrics.jsonl"
        best, last = best_val(records), records[-1] if records else {}
        summary.best_val_loss_windows = best_window_loss(records)
    summary.model, summary.hidden, summary.layers = config.get("model"), config.get("hidden"), config.get("layers")
    summary.corpus = config.get("corpus_file") or config.get("corpus")
    summary.epochs = status.get("epochs") or config.get("epochs")
    summary.epochs_done = last.get("epoch")
    summary.best_val_perplexity = best["val_perplexity"] if best else None
    summary.best_val_epoch = best["epoch"] if best else None
    summary.train_perplexity = last.get("train_perplexity")
    summary.tokens_per_sec = last.get("tokens_per_sec")
    summary.device = status.get("device")
    summary.started_at = status.get("started_at") or _modified(run.path)
    return summary


def _modified(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def summarize_all(root: str | os.PathLike | None = None, sort: str = "started") -> list[RunSummary]:
    """Every folder directly under ``root`` (by default: under the runs root, and this user's runs the
    index names elsewhere), by ``sort`` (a key of SORT_KEYS); newest, largest or best first as the column means,
    and what has no value last."""
    summaries = [summarize(path) for path in known_run_folders(root)]
    field = SORT_KEYS[sort]
    descending = sort in ("started", "epochs", "speed", "size")
    present = [s for s in summaries if getattr(s, field) is not None]
    present.sort(key=lambda s: getattr(s, field), reverse=descending)
    return present + [s for s in summaries if getattr(s, field) is None]


def differing_options(configs: list[dict]) -> list[str]:
    """The options whose values are not the same in every config, in the order of the first."""
    names = list(dict.fromkeys(name for config in configs for name in config))
    return [name for name in names if name != "run_dir" and len({json.dumps(c.get(name)) for c in configs}) > 1]


def run_labels(configs: list[dict]) -> list[str]:
    """A short name per run from what differs between them, e.g. ``hidden=256`` and ``hidden=512``."""
    differing = differing_options(configs)[:3]
    if not differing:
        return [f"run {i + 1}" for i in range(len(configs))]
    return [", ".join(f"{name}={config.get(name)}" for name in differing) for config in configs]


@dataclass
class Curve:
    """A run's metrics per epoch, against each of the three x axes the comparison offers."""
    label: str
    epochs: list[int]
    train: list[float | None]
    val: list[float | None]
    elapsed_s: list[float | None]
    tokens: list[int] | None  # tokens seen by the end of each epoch, where the run says its epoch size


def load_curve(path: str | os.PathLike, label: str) -> Curve:
    run = RunDir(path)
    records, _ = read_metrics(run)
    config = run.read_config() or {}
    batches = (run.read_status() or {}).get("batches_per_epoch")
    per_epoch = batches * config["batch_size"] * config["num_steps"] if batches and "batch_size" in config \
        and "num_steps" in config else None
    epochs = [r["epoch"] for r in records]
    return Curve(label, epochs, [r.get("train_perplexity") for r in records], [r.get("val_perplexity") for r in records],
                 [r.get("elapsed_s") for r in records], [e * per_epoch for e in epochs] if per_epoch else None)


@dataclass
class Comparison:
    """Runs side by side: a label each, the options that differ, and each run's config and summary."""
    paths: list[str]
    labels: list[str]
    differing: list[str]
    configs: list[dict]
    summaries: list[RunSummary]

    def curves(self) -> list[Curve]:
        return [load_curve(path, label) for path, label in zip(self.paths, self.labels)]

    def best_window_losses(self) -> list[float | None]:
        """Each run's lowest ``--eval windows`` loss in nats (nanoGPT's measure), None where it has none."""
        return [best_window_loss(read_metrics(RunDir(path))[0]) for path in self.paths]


def best_window_loss(records: list[dict]) -> float | None:
    """The lowest ``--eval windows`` loss in nats of a run's metrics records; None where it has none."""
    return min_finite(*(r.get("val_loss_windows") for r in records))


def min_finite(*values) -> float | None:
    """The least of ``values`` that are finite numbers, None if none is."""
    numbers = [v for v in values if is_number(v)]
    return min(numbers, default=None)


def compare_runs(paths: list[str | os.PathLike]) -> Comparison:
    configs = [RunDir(path).read_config() or {} for path in paths]
    return Comparison([str(p) for p in paths], run_labels(configs), differing_options(configs), configs,
                      [summarize(path) for path in paths])
