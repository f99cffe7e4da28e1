"""What the hardware allows: GFLOP/s of the products a minibatch is made of, the work per token,
and a process's peak memory. ``torch.utils.benchmark`` times the products (warm-up, repeats until
the time is long enough, a device sync on CUDA)."""
from __future__ import annotations

import resource
import sys

import torch
from torch.utils import benchmark

from rnn_tui.engine import kernels
from rnn_tui.engine.kernels import onednn
from rnn_tui.engine.bench.paths import Workload


def _gflops(product, m: int, k: int, n: int) -> float:
    """GFLOP/s of ``product()``, an (m×k)·(k×n) product (or work that many flops), median of the blocks."""
    timer = benchmark.Timer(stmt="product()", globals={"product": product}, num_threads=torch.get_num_threads())
    return 2 * m * k * n / timer.blocked_autorange(min_run_time=0.2).median / 1e9


def matmul_gflops(m: int, k: int, n: int, device, dtype: torch.dtype = torch.float32) -> float:
    a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
    return _gflops(lambda: a @ b, m, k, n)


def packed_matmul_gflops(m: int, k: int, n: int, device) -> float | None:
    """The same product with the weight packed once (oneDNN), as the fast CPU recurrence runs it; None if absent."""
    if torch.device(device).type != "cpu" or not onednn.available():
        return None
    a, b = torch.randn(m, k), torch.randn(k, n)
    product = onednn.packed_product(b, m)
    return _gflops(lambda: product(a), m, k, n)


def c_recurrence_gflops(work: Workload, device) -> float | None:
    """The C recurrence's steps, forward then backward, at the workload's shape; None where they do not run."""
    if torch.device(device).type != "cpu" or kernels.native is None:
        return None
    T, B, h = work.num_steps, work.batch_size, work.hidden
    W = torch.randn(h, h) * h ** -0.5
    states, grad, slope = torch.randn(T + 1, B, h), torch.randn(T, B, h), torch.rand(T, B, h)

    def steps():
        kernels.native.forward_steps(states, W, relu=False)
        kernels.native.backward_steps(grad, slope, W)
    return _gflops(steps, B * (2 * T - 1), h, h)


def flops_per_token(work: Workload) -> float:
    """Useful matmul work of the scratch RNN per token, forward + backward (3× forward)."""
    h, v = work.hidden, work.vocab_size
    return 3 * 2 * (h * h + h * v)  # recurrence and output layer; the input (a row gather) counts as none


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM where Linux has it, since ru_maxrss carries over the pages of
    the parent a process was forked from; ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024
