import platform
import subprocess
import sys

import pytest

from rnn_tui.engine import allocator

# A minibatch's pattern, in miniature: allocate five 6 MiB buffers, touch every page, free them all.
# Prints the page faults of the last eight of ten rounds (the first two warm the heap up).
CHURN = """
import ctypes, resource, sys
from rnn_tui.engine.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
size = 6 * 2**20
for round in range(10):
    if round == 2:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    blocks = [libc.malloc(size) for _ in range(5)]
    for block in blocks:
        ctypes.memset(block, 1, size)
    for block in blocks:
        libc.free(block)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_of_churn(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="mallopt tuning applies to glibc only; elsewhere keep_freed_memory() is a no-op")
def test_freed_buffers_are_reused_without_page_faults():
    pages = 8 * 5 * 6 * 2**20 // 4096  # pages written in the measured rounds
    kept, default = faults_of_churn("keep"), faults_of_churn("default")
    assert default > pages / 2, f"glibc's default already keeps the buffers ({default} faults): nothing to test"
    assert kept < pages / 100, f"{kept} page faults for {pages} pages written with freed memory kept"


def test_is_a_no_op_returning_false_off_glibc(monkeypatch):
    allocator.keep_freed_memory.cache_clear()
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    try:
        assert allocator.keep_freed_memory() is False
    finally:
        allocator.keep_freed_memory.cache_clear()
