"""Reading a run folder from outside its process: is the run live, finished or gone, and what happened.

Everything here reads files (engine/live.py writes them) and never imports torch, so any
viewer — the dashboard, ``rnn-tui control``, a script — can follow a run from another terminal.

- live: its process is running (same pid *and* process start time as ``status.json`` records);
- finished: it wrote how it ended (completed, stopped, interrupted, diverged, error);
- gone: it did neither — killed with SIGKILL, the machine restarted — and resumes from its
  last checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from rnn_tui.engine import events as ev
from rnn_tui.engine.phases import Phase, RunState
from rnn_tui.engine.run_index import known_run_folders
from rnn_tui.engine.runs import RunDir


@dataclass
class RunInfo:
    """What a run folder says of its run."""
    path: Path
    state: RunState
    status: dict = field(default_factory=dict)  # status.json as last written ({} for a run from before it)

    @property
    def pid(self) -> int | None:
        return self.status.get("pid")

    @property
    def outcome(self) -> str | None:
        """How a finished run ended: completed, stopped, interrupted, diverged or error."""
        return self.status.get("finished")

    @property
    def on_this_host(self) -> bool:
        return self.status.get("host") in (None, socket.gethostname())


def process_alive(status: dict) -> bool:
    """Whether the process ``status`` names still runs: same pid and same start time, not a zombie."""
    if status.get("host") != socket.gethostname():
        return True  # another machine's run (a shared disk): taken as live until it says it finished
    if not isinstance(status.get("pid"), int):
        return False  # psutil.Process(None) would be this very process
    try:
        process = psutil.Process(status["pid"])
        return (process.status() != psutil.STATUS_ZOMBIE
                and abs(process.create_time() - status["process_started"]) < 1.0)
    except (psutil.Error, KeyError, TypeError):
        return False


def run_info(path: str | os.PathLike) -> RunInfo:
    run = RunDir(path)
    status = run.read_status() or {}
    if status.get("state") == Phase.FINISHED:
        state = RunState.FINISHED
    elif status and process_alive(status):
        state = RunState.LIVE
    else:
        state = RunState.GONE
    return RunInfo(run.path, state, status)


def is_run_folder(path: str | os.PathLike) -> bool:
    return RunDir(path).holds_run()


def find_runs(root: str | os.PathLike | None = None) -> list[RunInfo]:
    """The run folders directly under ``root`` (by default: under the runs root, and this user's runs the
    index names elsewhere: engine/run_index.py), the newest first."""
    infos = [run_info(path) for path in known_run_folders(root) if is_run_folder(path)]
    return sorted(infos, key=lambda info: _started(info), reverse=True)


def _started(info: RunInfo) -> float:
    started = info.status.get("started_at")
    if isinstance(started, (int, float)) and not isinstance(started, bool) and math.isfinite(started):
        return float(started)
    try:
        return info.path.stat().st_mtime
    except OSError:
        return 0.0


def latest_live_run(root: str | os.PathLike | None = None) -> RunInfo | None:
    return next((info for info in find_runs(root) if info.state == RunState.LIVE), None)


class EventTail:
    """``events.jsonl`` as it grows: each ``read`` returns the events appended since the last one.

    A line still being written (no newline yet) waits for the next read; a line that is not an
    event (a newer rnn-tui's, a damaged one) is skipped."""

    def __init__(self, path: str | os.PathLike, from_end: bool = False):
        self.path = Path(path)
        self.offset = self.path.stat().st_size if from_end and self.path.exists() else 0

    def read(self) -> list[ev.Event]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[:data.rfind(b"\n") + 1]
        self.offset += len(complete)
        events = []
        for line in complete.splitlines():
            try:
                events.append(ev.from_dict(json.loads(line)))
            except ValueError:
                continue
        return events


class RunWatch:
    """Follows one run: its events as they are appended, its progress from ``status.json``."""

    def __init__(self, path: str | os.PathLike, from_end: bool = False):
        self.run = RunDir(path)
        self.tail = EventTail(self.run.events_path, from_end)
        self._last_progress: dict | None = None

    def poll(self) -> list[ev.Event]:
        """New events, then the latest progress if it changed since the last poll and the run goes on
        (status.json keeps the last one after the end: told after ``finished``, it would undo it)."""
        events = self.tail.read()
        status = self.run.read_status() or {}
        progress = status.get("progress")
        ended = status.get("state") == Phase.FINISHED or any(isinstance(e, (ev.Finished, ev.Error)) for e in events)
        if progress and progress != self._last_progress and not ended:
            self._last_progress = progress
            try:
                events.append(ev.from_dict({"event": "progress", **progress}))
            except ValueError:
                pass
        return events

    def info(self) -> RunInfo:
        return run_info(self.run.path)


def epoch_points(events: list[ev.Event], run: RunDir | None = None) -> list[dict]:
    """The run's per-epoch metrics as its events tell them, a resumed run's retrained epochs once
    (``metrics.jsonl`` for a folder written before events were kept)."""
    points: list[dict] = []
    for event in events:
        if isinstance(event, ev.Start):
            points = [p for p in points if p["epoch"] <= event.start_epoch]
        elif isinstance(event, ev.Epoch):
            points.append({"epoch": event.epoch, "train_perplexity": event.train_perplexity,
                           "val_perplexity": event.val_perplexity, "batch": event.batch, "batches": event.batches})
    if not events and run is not None and run.metrics_path.is_file():
        for line in run.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                points.append(json.loads(line))
            except ValueError:
                continue
    return points
