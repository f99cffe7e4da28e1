"""Gradient clipping by the global L2 norm (d2l §8.5.5), without a host sync."""
from __future__ import annotations

from collections.abc import Iterable

import torch


def grad_clipping(params: Iterable[torch.nn.Parameter], theta: float) -> torch.Tensor:
    """Scale all gradients by min(1, θ/‖g‖), ‖g‖ over *all* parameters together.

    Returns the pre-clip norm as a 0-d tensor on the parameters' device: reading it is left to
    the caller so the training loop never waits on the device. θ = 0 measures but does not clip.
    (One seed sums per-tensor norms instead; that overestimates ‖g‖ and over-clips.)
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if theta > 0:
        scale = (theta / norm.clamp_min(1e-12)).clamp(max=1.0)
        torch._foreach_mul_(grads, scale)
    return norm
