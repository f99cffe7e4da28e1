"""The event log: one line per thing that happened, written at most twice a second.

Every write to a Textual ``Log`` changes its virtual size and so costs a relayout of the whole
screen; while a run trains that time comes out of the trainer's cores. Here the log grows without
a relayout (its size is fixed and it draws no scrollbar: it is read at its tail, and scrolls with
the keys or the wheel when focused), and lines are written together, at most every
``FLUSH_INTERVAL_S``.
"""
from __future__ import annotations

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Log

from rnn_tui.tui.coalesce import Coalesced


class EventLog(Log):
    FLUSH_INTERVAL_S = 0.5
    virtual_size = Reactive(Size(0, 0), layout=False)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._pending: list[str] = []
        self._flushes = Coalesced(self, self.FLUSH_INTERVAL_S, self.flush)

    def add(self, line: str) -> None:
        self._pending.append(line)
        self._flushes.request()

    def flush(self) -> None:
        lines, self._pending = self._pending, []
        if lines:
            self.write_lines(lines)
