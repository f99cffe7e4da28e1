"""Standard output that cannot take a run down with it: closed, full, a reader gone, or not UTF-8.

The command line prints through ``sys.stdout``; what it prints is a view of work kept elsewhere (a
run's folder). So a write that fails (``>&-``, ``> /dev/full``, ``| head`` that has exited) is
noted, not raised: the run goes on, its folder whole, and the exit status tells. Text the stream's
encoding cannot hold (``PYTHONIOENCODING=ascii`` and a Chinese sample) is written escaped, ``\\u5e8a``,
which keeps a JSON line valid.
"""
from __future__ import annotations

import errno
import os
import sys


class GuardedStdout:
    """Wraps a text stream: ``write`` and ``flush`` never raise; ``failed`` holds the first error's errno."""

    def __init__(self, stream):
        self.stream = stream
        self.failed: int | None = None if stream is not None else errno.EBADF

    @property
    def reader_left(self) -> bool:
        """Whether output ended because its reader went away (``| head``): the usual end of a pipe, no error."""
        return self.failed == errno.EPIPE

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                return self.stream.write(text)
            except (OSError, ValueError) as exc:  # ValueError: a stream closed under us
                self._fail(getattr(exc, "errno", None) or errno.EBADF)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.stream.flush()
            except (OSError, ValueError) as exc:
                self._fail(getattr(exc, "errno", None) or errno.EBADF)

    def _fail(self, code: int) -> None:
        self.failed = code
        try:  # what is still buffered goes nowhere, so that the interpreter's last flush cannot fail
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
        except OSError:
            pass

    def isatty(self) -> bool:
        return self.failed is None and self.stream.isatty()

    def fileno(self) -> int:
        if self.stream is None:
            raise OSError(errno.EBADF, "standard output is closed")
        return self.stream.fileno()

    def __getattr__(self, name):  # encoding, errors…: the wrapped stream's
        if self.stream is None:
            raise AttributeError(name)
        return getattr(self.stream, name)


def guard_stdout() -> GuardedStdout:
    """Put the guard in place for this process (once), with unencodable text escaped on both streams."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                pass
    if not isinstance(sys.stdout, GuardedStdout):
        sys.stdout = GuardedStdout(sys.stdout)
    return sys.stdout


def output_failure() -> str | None:
    """Why standard output failed (one line), when it did for another reason than its reader leaving."""
    guard = sys.stdout
    if isinstance(guard, GuardedStdout) and guard.failed is not None and not guard.reader_left:
        return f"standard output failed ({os.strerror(guard.failed)}): what was to be printed is lost"
    return None
