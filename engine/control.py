"""Steering a run from outside: pause, resume, stop, save and sample now, honoured between minibatches.

``TrainControl`` is what the trainer reads; the requests come from another thread. A training
process takes them as a protocol of one JSON object per line (``rnn-tui train --control-stdin``):
``command_line`` writes one, ``apply_command`` does what one says. Both ends live here.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable

COMMANDS = ("pause", "resume", "stop", "save", "sample")
SAMPLE_OPTIONS = {"prefix": str, "length": int, "temperature": (int, float), "top_k": int}


class TrainControl:
    def __init__(self):
        self._not_paused = threading.Event()
        self._not_paused.set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sample_requests: list[dict] = []
        self._save = threading.Event()
        self.stop_reason: str | None = None

    def pause(self) -> None:
        self._not_paused.clear()

    def resume(self) -> None:
        self._not_paused.set()

    @property
    def paused(self) -> bool:
        return not self._not_paused.is_set()

    def request_stop(self, reason: str = "stopped") -> None:
        """``reason`` is ``stopped`` for a user's stop, or the signal's name (``SIGTERM``…)."""
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._not_paused.set()  # a paused run must wake up to stop

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_sample(self, **overrides) -> None:
        """Ask for a sample now; ``overrides`` may hold prefix, length, temperature, top_k."""
        with self._lock:
            self._sample_requests.append(overrides)

    def take_sample_requests(self) -> list[dict]:
        with self._lock:
            requests, self._sample_requests = self._sample_requests, []
        return requests

    def request_save(self) -> None:
        """Ask for a checkpoint now (of the last completed epoch: that is what resumes exactly)."""
        self._save.set()

    def take_save_request(self) -> bool:
        requested = self._save.is_set()
        self._save.clear()
        return requested

    def wait_while_paused(self, poll_s: float = 0.1) -> None:
        while not self._not_paused.wait(poll_s):
            if self._sample_requests:
                return  # let the trainer serve a sample while paused, then come back


def command_line(command: str, **options) -> str:
    """One command of the protocol, as a front end writes it (without the newline).

    ``options``: for ``sample``, any of prefix, length, temperature and top_k; None means the run's own."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; the protocol has {', '.join(COMMANDS)}")
    return json.dumps({"command": command, **{k: v for k, v in options.items() if v is not None}},
                      ensure_ascii=False)


def apply_command(control: TrainControl, line: str) -> bool:
    """Do what one line of the protocol asks; False (and nothing done) for a line that is not a command."""
    try:
        request = json.loads(line)
    except json.JSONDecodeError:
        return False
    command = request.pop("command", None) if isinstance(request, dict) else None
    if command == "pause":
        control.pause()
    elif command == "resume":
        control.resume()
    elif command == "stop":
        control.request_stop("stopped")
    elif command == "save":
        control.request_save()
    elif command == "sample":
        control.request_sample(**{name: value for name, value in request.items()
                                  if name in SAMPLE_OPTIONS and isinstance(value, SAMPLE_OPTIONS[name])
                                  and not isinstance(value, bool)})
    else:
        return False
    return True


def follow_commands(control: TrainControl, lines: Iterable[str]) -> None:
    """Apply each line of ``lines`` (a training process's stdin) until they end, then stop the run
    cleanly, with a checkpoint: whoever was steering it has gone."""
    for line in lines:
        apply_command(control, line)
    control.request_stop("stopped")
