"""Keeping freed memory in the process: glibc's malloc tuned for a training loop.

Every minibatch allocates and frees the same few megabyte-sized buffers (hidden states, their
gradients, packed weights). glibc's default serves blocks that size with ``mmap`` or trims them
off the heap's top when freed, so the next minibatch faults the same pages back in, one 4 KiB
page at a time (docs/benchmarks.md has the page faults and time this saves). This is the effect
PyTorch's CPU tuning guide gets from preloading jemalloc or tcmalloc, done in-process with glibc's
own ``mallopt``.

The cost: memory freed by the run stays with the process (up to ``TRIM_THRESHOLD`` at the heap's
top) instead of going back to the OS. A training process keeps its peak working set anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20   # glibc's ceiling for this setting on 64-bit: larger blocks are still mmap'ed
TRIM_THRESHOLD = 512 * 2**20


@functools.cache
def keep_freed_memory() -> bool:
    """Serve blocks under 32 MiB from the heap and keep up to 512 MiB freed there; True if set.

    A no-op returning False where the C library is not glibc (macOS, musl, Windows). Process-wide
    and idempotent: call it where a process starts heavy CPU work, not at import.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success; setting either threshold also turns off glibc's dynamic adjustment
    return mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
