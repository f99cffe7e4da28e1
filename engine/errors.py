"""Input the user can fix, told in one line: an option, a file, an environment variable.

The command line prints such a problem as ``rnn-tui: error: …`` and exits with status 2; the
dashboard shows it beside the field or in a toast. Anything else that goes wrong is a bug, and
keeps its traceback so that it can be fixed.
"""
from __future__ import annotations


class InputProblem(ValueError):
    """Bad input: its message is the one line the user reads."""
