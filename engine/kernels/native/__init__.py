"""The C kernels (``native_rnn.c``): the vanilla RNN's generation steps and training's recurrence.

Built by the install where it finds a C compiler with OpenMP. Importing this package raises
ImportError where the module was not built; ``engine/kernels/__init__.py`` guards that one import,
so without this folder rnn-tui runs its torch kernels.

The module holds one copy of its kernels per instruction set (AVX-512, AVX2, and a generic one with
4-float vectors) and uses the best the CPU runs, or the best at or below ``$RNN_TUI_C_ISA``, so any
host can run the lower sets (tests, and a figure for a CPU without AVX-512); ``use`` switches sets.
"""
from __future__ import annotations

import os

from rnn_tui.engine.kernels.native import _native_rnn  # ImportError where the install did not build it
from rnn_tui.engine.kernels.native.recurrence import backward_steps, forward_steps
from rnn_tui.engine.kernels.native.stepper import NativeRNNStepper

# where these kernels measured faster than torch's (docs/benchmarks.md); the generic set is built and
# tested everywhere, and runs when asked for (--kernels c), but "auto" leaves it out
FASTER_THAN_TORCH = ("avx512", "avx2")
LEVELS = ("avx512", "avx2", "generic")  # every set the module builds, best first
ISA_ENV = "RNN_TUI_C_ISA"


def instruction_set() -> str:
    """The instruction set of the kernels in use: "avx512", "avx2" or "generic"."""
    return _native_rnn.in_use()


def instruction_sets() -> list[str]:
    """Every instruction set this CPU runs kernels for, best first (the import chose the first)."""
    return _native_rnn.instruction_sets()


def use(name: str) -> None:
    """Use the kernels for instruction set ``name``; ValueError where this CPU does not run them."""
    _native_rnn.use(name)


def faster_than_torch() -> bool:
    return instruction_set() in FASTER_THAN_TORCH


def isa_limit_problem() -> str | None:
    """Why ``$RNN_TUI_C_ISA`` is not a level (one line), or None."""
    limit = os.environ.get(ISA_ENV, "").strip().lower()
    if limit and limit not in LEVELS:
        return f"{ISA_ENV} must be one of {', '.join(LEVELS)} (got {limit!r})"
    return None


def default_instruction_set() -> str:
    """The best set this CPU runs, at or below ``$RNN_TUI_C_ISA`` when it names one."""
    limit = os.environ.get(ISA_ENV, "").strip().lower()
    allowed = LEVELS[LEVELS.index(limit):] if limit in LEVELS else LEVELS
    return next(name for name in instruction_sets() if name in allowed)


use(default_instruction_set())


__all__ = ["FASTER_THAN_TORCH", "LEVELS", "NativeRNNStepper", "backward_steps", "default_instruction_set",
           "faster_than_torch", "forward_steps", "instruction_set", "instruction_sets", "isa_limit_problem", "use"]
