"""Gradient clipping by the global L2 norm (d2l §8.5.5), without a host sync."""
from __future__ import annotations

from collections.abc import Iterable

import torch


def grad_clipping(params: Iterable[torch.nn.Parameter], theta: float) -> torch.Tensor:
    """Scale all gradients by min(1, θ/‖g‖), ‖g‖ over *all* parameters together; θ = 0 measures only.

    Returns the pre-clip norm as a 0-d tensor on the parameters' device: reading it is left to the
    caller so the training loop never waits on the device. (A lyrics notebook of the d2l family sums
    per-tensor norms instead; that overestimates ‖g‖ and over-clips.)
    """
    # torch's own clipping, the one readers know; it costs less than a minibatch's noise (docs/benchmarks.md)
    params = [p for p in params if p.grad is not None]
    if theta > 0:
        return torch.nn.utils.clip_grad_norm_(params, theta, foreach=True)
    return torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
