"""Child processes that time training runs for the benchmark, one per allocator setting.

The textbook loop runs in a process with glibc's malloc as it comes, as d2l's notebook does;
rnn-tui's trainer first calls ``keep_freed_memory`` (``engine/allocator.py``), which speeds up
whatever trains in its process, the textbook loop included. A setting that lasts a process's
lifetime cannot alternate within one process, so the benchmark keeps one child of each kind alive
and sends them runs in turn: one run at a time, so the two never compete for the cores and the
alternation still cancels drift.
"""
from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable

from rnn_tui.engine.allocator import keep_freed_memory

TEXTBOOK = "textbook"  # glibc's malloc as it comes, as d2l's notebook runs
RNN_TUI = "rnn-tui"    # freed memory kept, as rnn-tui's trainer runs


def _serve(connection, kind: str) -> None:
    # ctrl+c reaches the whole process group: the parent handles it and ends this child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if kind == RNN_TUI:
        keep_freed_memory()  # before torch allocates anything, as in a training process
    # a request is (function, arguments): unpickling the first one imports torch, after the allocator is set
    while (request := connection.recv()) is not None:
        function, args = request
        try:
            connection.send(("ok", function(*args)))
        except Exception:  # reported to the parent, which raises it there; this child keeps serving
            connection.send(("error", traceback.format_exc(limit=-3)))


class TimingProcess:
    """A spawned child (a clean interpreter: no inherited threads or allocator state) that runs timings."""

    def __init__(self, kind: str):
        if kind not in (TEXTBOOK, RNN_TUI):
            raise ValueError(f"unknown timing process {kind!r}")
        context = multiprocessing.get_context("spawn")
        self.kind = kind
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, kind), daemon=True,
                                        name=f"rnn-tui bench ({kind})")
        self._process.start()
        child_end.close()

    def call(self, function: Callable, *args):
        """``function(*args)`` in the child (a module-level function: it travels by name); its result."""
        self._connection.send((function, args))
        try:
            status, value = self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the benchmark's {self.kind} timing process exited "
                               f"(exit code {self._process.exitcode})") from None
        if status == "error":
            raise RuntimeError(f"in the benchmark's {self.kind} timing process:\n{value}")
        return value

    def kill(self) -> None:
        """End the child now, whatever it is doing (the parent is giving up)."""
        self._process.kill()
        self._process.join()
        self._connection.close()

    def close(self) -> None:
        """Let the child finish its request and exit."""
        try:
            self._connection.send(None)
        except (BrokenPipeError, OSError):
            pass
        self._process.join(timeout=10)
        self.kill()  # a no-op unless the child outlived its 10 s

    def __enter__(self) -> TimingProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
