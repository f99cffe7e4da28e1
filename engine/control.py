"""Steering a run from outside: pause, resume, stop, save and sample now, honoured between minibatches.

``TrainControl`` is what the trainer reads; the requests come from another thread. A training
process takes them as a protocol of one JSON object per line, on its control socket
(engine/control_socket.py): ``command_line`` writes one, ``apply_command`` does what one says.
"""
from __future__ import annotations

import json
import threading

from rnn_tui.engine.config import has_surrogates
from rnn_tui.engine.phases import Outcome

COMMANDS = ("pause", "resume", "stop", "save", "sample", "prune")
SAMPLE_OPTIONS = {"prefix": str, "length": int, "temperature": (int, float), "top_k": int}
# a sample is generated between two minibatches: bounded, so that no request holds training up for long
SAMPLE_LIMITS = {"prefix": (0, 1000), "length": (1, 10_000), "temperature": (0, 100), "top_k": (0, 1_000_000)}
MAX_PENDING_SAMPLES = 8


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
        """``reason`` is ``stopped`` for a user's stop, ``pruned`` for a sweep's, or the signal's name (``SIGTERM``…)."""
        if not self._stop.is_set():
            self.stop_reason = reason
        self._stop.set()
        self._not_paused.set()  # a paused run must wake up to stop

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def request_sample(self, **overrides) -> bool:
        """Ask for a sample now; ``overrides`` may hold prefix, length, temperature, top_k.

        False (not queued) when ``MAX_PENDING_SAMPLES`` are already waiting: a flood of requests
        must not turn a training run into a generator."""
        with self._lock:
            if len(self._sample_requests) >= MAX_PENDING_SAMPLES:
                return False
            self._sample_requests.append(overrides)
        return True

    @property
    def sample_requested(self) -> bool:
        return bool(self._sample_requests)

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


def apply_command(control: TrainControl, line: str) -> str | None:
    """Do what one line of the protocol asks; the reason it was refused (and nothing done), or None."""
    try:
        request = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "not JSON: send one object a line, e.g. {\"command\": \"pause\"}"
    command = request.pop("command", None) if isinstance(request, dict) else None
    if command == "pause":
        control.pause()
    elif command == "resume":
        control.resume()
    elif command == "stop":
        control.request_stop(Outcome.STOPPED)
    elif command == "prune":  # a sweep's pruner: a stop the run's status tells apart
        control.request_stop(Outcome.PRUNED)
    elif command == "save":
        control.request_save()
    elif command == "sample":
        options = {name: value for name, value in request.items()
                   if name in SAMPLE_OPTIONS and isinstance(value, SAMPLE_OPTIONS[name]) and not isinstance(value, bool)}
        for name, value in options.items():
            low, high = SAMPLE_LIMITS[name]
            if not low <= (len(value) if name == "prefix" else value) <= high:  # NaN is refused too
                return f"{name} must be within {low}..{high}" + (" characters" if name == "prefix" else "")
            if name == "prefix" and has_surrogates(value):  # no file of the run could hold the sample
                return "prefix must be text: it holds a lone surrogate (bytes that were not UTF-8)"
        if not control.request_sample(**options):
            return f"{MAX_PENDING_SAMPLES} samples are already waiting; ask again once they are shown"
    else:
        return f"unknown command {str(command)[:40]!r}; the commands are {', '.join(COMMANDS)}"
    return None
