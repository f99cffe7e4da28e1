"""How figures read on screen, one way for the command line and the dashboard alike.

A value a run does not tell (no validation yet, a damaged file) is ``N/A``, never an error.
"""
from __future__ import annotations

import io
import math

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

NA = "N/A"


def format_seconds(seconds: float | None) -> str:
    """``45s``, ``5m10s``, ``2h05m``: a duration to read at a glance (``N/A`` when not known)."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return NA
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def format_epoch(epoch: int, epochs: int | None = None, batch: int | None = None, batches: int | None = None) -> str:
    """``epoch 5/40``, or ``epoch 5/40 (120 of 400 minibatches)`` for one ``--max-time`` ended early."""
    text = f"epoch {epoch}" + (f"/{epochs}" if epochs else "")
    if batch is not None and batches and batch < batches:
        text += f" ({batch} of {batches} minibatches)"
    return text


def format_checkpoint(epoch: int, batch: int = 0) -> str:
    """What a checkpoint holds: ``epoch 4``, or ``epoch 4 and 120 minibatches of epoch 5``."""
    return f"epoch {epoch}" + (f" and {batch} minibatches of epoch {epoch + 1}" if batch else "")


def format_size(n: int | float | None) -> str:
    """``512 B``, ``3.4 KiB``, ``1.2 GiB``: sizes in powers of 1024, as ``du -h`` shows them."""
    if not isinstance(n, (int, float)) or not math.isfinite(n) or n < 0:
        return NA
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return NA


def format_number(value, spec: str) -> str:
    """``value`` in ``spec`` (``".3f"``, ``",.0f"``), or ``N/A`` for a value that is missing or not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return NA
    return format(value, spec)


def format_value(value) -> str:
    """An option's value as a table shows it: ``0.00348``, ``256``, ``lstm``; ``N/A`` when missing or not finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    return f"{value:.3g}" if isinstance(value, float) else str(value)


# a rule under the header, columns apart: rich measures wide characters (a note in Chinese) and cuts with …
_RULE_UNDER_HEADER = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n")


def text_table(header: list[str], rows: list[list[str]], right: frozenset[int] | set[int] = frozenset(),
               width: int | None = None, flexible: int | None = None) -> str:
    """``rows`` under ``header`` as plain text (never markup). With ``width``, column ``flexible`` is cut
    to fit it; every other column keeps its whole text."""
    table = Table(box=_RULE_UNDER_HEADER, show_edge=False, pad_edge=False, header_style=None, collapse_padding=True)
    natural = [max([cell_len(name), *(cell_len(row[i]) for row in rows)]) for i, name in enumerate(header)]
    for i, name in enumerate(header):
        room = None
        if width is not None and i == flexible:  # what the other columns and the two-space gaps leave
            room = max(cell_len(name), width - sum(natural) + natural[i] - 2 * (len(header) - 1))
        table.add_column(Text(name), justify="right" if i in right else "left", no_wrap=True,
                         max_width=room, min_width=None if i == flexible else natural[i])
    for row in rows:
        table.add_row(*(Text(cell, no_wrap=True, overflow="ellipsis") for cell in row))
    buffer = io.StringIO()
    Console(file=buffer, width=width or 100_000, color_system=None, highlight=False, emoji=False,
            markup=False).print(table)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())
