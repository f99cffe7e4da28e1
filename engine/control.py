"""Pause, stop and sample-now requests, made from another thread, honoured between minibatches."""
from __future__ import annotations

import threading


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
