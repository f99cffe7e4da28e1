"""Run folders: what a run writes, and where runs live.

``config.json``, ``metrics.jsonl``, ``samples.txt``, ``checkpoint.pt`` (the latest epoch: resume)
and ``best.pt`` (the lowest validation loss: generate) are the run's results (scripts read them). While its process lives, a run also keeps ``events.jsonl`` (every event but
progress), ``status.json`` (who trains it and how far it got, replaced atomically), ``control.sock``
and ``run.lock`` (engine/live.py); ``train.log`` holds a detached run's stderr.
"""
from __future__ import annotations

import dataclasses
import errno
import json
import os
import tempfile
import time
from pathlib import Path

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.schema import Damaged, RunStatus, conform, finite

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
RUNS_ROOT_ENV = "RNN_TUI_RUNS"
SWEEP_MARKER = "sweep.json"  # in a sweep's folder (engine/sweep.py): it holds runs, it is not one


def runs_root() -> Path:
    """Where new runs go and where ``rnn-tui runs`` looks first: ``$RNN_TUI_RUNS``, else ``./runs``
    (engine/run_index.py finds runs elsewhere). Absolute: every path shown can be pasted anywhere."""
    root = _absolute(Path(os.environ.get(RUNS_ROOT_ENV) or "runs"))
    try:
        usable = root.is_dir() or not root.exists()
    except OSError as exc:  # a name too long
        raise InputProblem(f"{RUNS_ROOT_ENV}={root} cannot be a folder ({exc.strerror or exc})") from None
    if not usable:
        raise InputProblem(f"{RUNS_ROOT_ENV}={root} is not a folder: point it at one (or unset it for ./runs)")
    return root


def _absolute(path: Path) -> Path:
    try:
        return path.absolute()
    except OSError:  # the current folder was deleted: the path is all there is
        return path


def folder_problem(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be a run folder, in words, from the error making or reading it raised."""
    for part in (path, *path.parents):
        try:
            if part.is_dir():
                break
            if part.exists():
                where = "it is a file" if part == path else f"{part}, in its path, is a file"
                return f"cannot use {path} as a run folder: {where}"
        except OSError:  # that name too long to look at: its parent may tell
            continue
    reason = {errno.ENAMETOOLONG: "its name is too long", errno.EACCES: "permission denied",
              errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full"}.get(exc.errno)
    return f"cannot use {path} as a run folder ({reason or exc.strerror or exc})"


def default_run_dir(model: str, root: str | os.PathLike | None = None) -> Path:
    root = Path(root) if root is not None else runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{model}"
    suffix = 1
    while path.exists():  # two runs started in the same second
        suffix += 1
        path = root / f"{stamp}-{model}-{suffix}"
    return path


def run_folder_of(path: str | os.PathLike) -> Path:
    """The run folder of a run folder or of a checkpoint file in one."""
    path = Path(path)
    return path if path.is_dir() else path.parent


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = _absolute(Path(path))

    checkpoint_path = property(lambda self: self.path / CHECKPOINT_NAME)
    best_path = property(lambda self: self.path / BEST_NAME)
    config_path = property(lambda self: self.path / "config.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    events_path = property(lambda self: self.path / "events.jsonl")
    status_path = property(lambda self: self.path / "status.json")
    socket_path = property(lambda self: self.path / "control.sock")
    lock_path = property(lambda self: self.path / "run.lock")
    log_path = property(lambda self: self.path / "train.log")
    note_path = property(lambda self: self.path / "note.txt")

    def holds_run(self) -> bool:
        """Whether a run has written here (its config or its status)."""
        try:
            return self.config_path.is_file() or self.status_path.is_file()
        except OSError:  # a name too long, say
            return False

    def make(self) -> bool:
        """Create the folder, readable by its owner only (its socket steers the run); True if it is new."""
        if self.path.is_dir():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(mode=0o700)
        return True

    def create(self, config: dict) -> "RunDir":
        self.make()
        self.config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return self

    def load(self, path: Path, schema) -> tuple[dict | None, str | None]:
        """The record in ``path`` checked against ``schema`` (engine/schema.py): (its fields as written, None),
        (None, why it is damaged), or (None, None) when there is no such file."""
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError) as exc:
            return None, f"{path.name} cannot be read ({getattr(exc, 'strerror', None) or str(exc)[:80]})"
        try:
            conform(schema, value, path.name)
        except Damaged as exc:
            return None, str(exc)
        known = {spec.name for spec in dataclasses.fields(schema)}
        return {key: item for key, item in value.items() if key in known}, None

    def read_config(self) -> dict | None:
        """config.json, or None where it is absent or damaged (``load`` tells why)."""
        return self.load(self.config_path, TrainConfig)[0]

    def append_metrics(self, record: dict) -> None:
        self._append("metrics.jsonl", json.dumps(record, ensure_ascii=False) + "\n")

    def append_sample(self, epoch: int, text: str, note: str = "") -> None:
        """A sample under its header: ``--- epoch 3``, or ``--- epoch 3, final`` / ``, on demand (t=0.8)``."""
        self._append("samples.txt", f"--- epoch {epoch}{', ' + note if note else ''}\n{text}\n")

    def append_event(self, record: dict) -> None:
        self._append("events.jsonl", json.dumps(record, ensure_ascii=False) + "\n")

    def write_status(self, status: dict) -> None:
        """Replace ``status.json`` at once: a reader sees the old status or the new one, never half."""
        fd, tmp_name = tempfile.mkstemp(prefix=".status-", suffix=".tmp", dir=self.path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(finite(status), handle, ensure_ascii=False)  # an overflowed perplexity is None, as in events
            os.replace(tmp_name, self.status_path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def read_status(self) -> dict | None:
        """status.json, or None where it is absent or damaged (``load`` tells why)."""
        return self.load(self.status_path, RunStatus)[0]

    def truncate_metrics(self, last_epoch: int) -> None:
        """On resume, drop lines for epochs after the checkpoint (they will be trained again)."""
        if not self.metrics_path.exists():
            return
        kept = [line for line in self.metrics_path.read_text(encoding="utf-8", errors="replace").splitlines()
                if (_epoch_of(line) or last_epoch + 1) <= last_epoch]  # a damaged line is dropped, not fatal
        self.metrics_path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")

    def _append(self, name: str, text: str) -> None:
        with open(self.path / name, "a", encoding="utf-8") as handle:
            handle.write(text)


def _epoch_of(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    epoch = record.get("epoch") if isinstance(record, dict) else None
    return epoch if isinstance(epoch, int) else None
