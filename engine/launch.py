"""Starting rnn-tui itself as a child process (a training run, generation, a benchmark's run).

``python -m`` and ``python -c`` both put the current folder first on ``sys.path``, where a folder
named ``rnn_tui`` (or any other) would shadow the installed package. The child drops that entry
before it imports anything of ours, so it runs the rnn-tui this interpreter has installed.
"""
from __future__ import annotations

import sys

_INSTALLED_ONLY = "import sys; sys.path[:] = [p for p in sys.path if p]; "


def python_command(code: str, *args: str) -> list[str]:
    """``python -c CODE ARGS…`` by this interpreter, the current folder off ``sys.path``."""
    return [sys.executable, "-c", _INSTALLED_ONLY + code, *args]


def rnn_tui_command(*args: str) -> list[str]:
    """The command line of ``rnn-tui ARGS…`` run by this interpreter."""
    return python_command("from rnn_tui.tui.cli import main; main()", *args)
