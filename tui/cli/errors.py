"""The command line's one error: bad input, told in one line."""
from __future__ import annotations

import click


class InputError(click.ClickException):
    """Bad input: one line on stderr, exit status 2."""
    exit_code = 2
