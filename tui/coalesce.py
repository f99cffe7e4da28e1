"""Coalescing for widgets that redraw on a stream of events (epochs, log lines).

Every redraw of the dashboard is CPU taken from the trainer's cores, so a widget asks for its
update through ``Coalesced``: it runs at once when the last run was at least ``interval_s`` ago,
otherwise once when the interval is over, however many requests came in between. (Textual has no
time-based throttle of its own; ``Message.can_replace``, used for progress, merges only messages
still waiting in the queue.)
"""
from __future__ import annotations

import time
from collections.abc import Callable

from textual.widget import Widget


class Coalesced:
    def __init__(self, owner: Widget, interval_s: float, action: Callable[[], None]):
        self.owner, self.interval_s, self.action = owner, interval_s, action
        self._last_run = float("-inf")
        self._pending = False

    def request(self) -> None:
        if self._pending:
            return
        wait = self._last_run + self.interval_s - time.monotonic()
        if wait <= 0:
            self.run()
        else:
            self._pending = True
            self.owner.set_timer(wait, self.run)

    def run(self) -> None:
        """Now, whatever the interval (a reset, a key press); a pending timer then finds nothing new."""
        self._last_run, self._pending = time.monotonic(), False
        self.action()
