"""The event log: one line per thing that happened, written at most twice a second.

Every write to a Textual ``Log`` changes its virtual size and so costs a relayout of the whole
screen; while a run trains that time comes out of the trainer's cores. A line is written at once
when the log has been quiet, otherwise with the others that arrive within ``FLUSH_INTERVAL_S``.
"""
from __future__ import annotations

import time

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log


class EventLog(Log):
    FLUSH_INTERVAL_S = 0.5
    # Log's growth needs no relayout here: the panel's size is fixed and it draws no scrollbar
    virtual_size = Reactive(Size(0, 0), layout=False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pending: list[str] = []
        self._last_flush = float("-inf")

    def add(self, line: str) -> None:
        self._pending.append(line)
        if len(self._pending) > 1:
            return  # a flush is already scheduled
        wait = self._last_flush + self.FLUSH_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self.flush()
        else:
            self.set_timer(wait, self.flush)

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if lines:
            self.write_lines(lines)
