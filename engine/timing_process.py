"""Child processes that time training runs for the benchmark, one per allocator setting.

The seeds run in a process with glibc's malloc as it comes; rnn-tui's trainer first calls
``keep_freed_memory`` (``allocator.py``), which speeds up whatever trains in its process, the
textbook loop included. A setting that lasts a process's lifetime cannot alternate within one
process, so the benchmark keeps one child of each kind alive and sends them runs in turn: one
run at a time, so the two never compete for the cores and the alternation still cancels drift.
"""
from __future__ import annotations

import multiprocessing
import signal
import traceback

from .allocator import keep_freed_memory

SEEDS = "seeds"      # glibc's defaults, as the seeds' notebook runs
RNN_TUI = "rnn-tui"  # freed memory kept, as rnn-tui's trainer runs


def _serve(connection, kind: str) -> None:
    # ctrl+c reaches the whole process group: the parent handles it and ends this child
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if kind == RNN_TUI:
        keep_freed_memory()  # before torch allocates anything, as in a training process
    import torch

    from .bench import peak_rss_mib, train_tokens_per_sec  # here: bench imports this module
    while (request := connection.recv()) is not None:
        if request == "peak_rss_mib":
            connection.send(("ok", peak_rss_mib()))
            continue
        work, label, batches, device = request
        try:
            connection.send(("ok", train_tokens_per_sec(work, label, batches, torch.device(device))))
        except Exception:  # reported to the parent, which raises it there; this child keeps serving
            connection.send(("error", traceback.format_exc(limit=-3)))


class TimingProcess:
    """A spawned child (a clean interpreter: no inherited threads or allocator state) that times runs."""

    def __init__(self, kind: str):
        if kind not in (SEEDS, RNN_TUI):
            raise ValueError(f"unknown timing process {kind!r}")
        context = multiprocessing.get_context("spawn")
        self.kind = kind
        self._connection, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, kind), daemon=True,
                                        name=f"rnn-tui bench ({kind})")
        self._process.start()
        child_end.close()

    def _ask(self, request):
        self._connection.send(request)
        try:
            status, value = self._connection.recv()
        except EOFError:
            raise RuntimeError(f"the benchmark's {self.kind} timing process exited "
                               f"(exit code {self._process.exitcode})") from None
        if status == "error":
            raise RuntimeError(f"in the benchmark's {self.kind} timing process:\n{value}")
        return value

    def train_tokens_per_sec(self, work, label: str, batches: int, device) -> tuple[float, list[float]]:
        return self._ask((work, label, batches, str(device)))

    def peak_rss_mib(self) -> float:
        return self._ask("peak_rss_mib")

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
