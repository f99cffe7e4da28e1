"""Matrix products with a weight packed once for many calls, through oneDNN (CPU, float32).

The recurrence multiplies the same (h×h) weight by a new (B×h) block at every step. A BLAS call
packs the weight into its blocked layout on every call; oneDNN packs it once
(``_reorder_linear_weight``) and can apply the activation inside the product, where torch's own
float32 tanh on a small tensor runs on one thread.

These are torch's own oneDNN operators (``torch.ops.mkldnn``, the ones TorchInductor emits for
CPU linear layers). They are not public API, so ``available`` checks once that they exist and give
the plain product's result; where they do not, the kernels switch never chooses them.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch


@functools.cache
def available() -> bool:
    """Whether torch's oneDNN operators are here and give the plain product's result."""
    ops = getattr(torch.ops, "mkldnn", None)
    if not torch.backends.mkldnn.is_available() or ops is None:
        return False
    try:
        W = torch.linspace(-1, 1, 24).view(4, 6)
        x = torch.linspace(0.5, -0.5, 12).view(3, 4)
        b = torch.linspace(-0.2, 0.2, 6)
        with torch.no_grad():
            got = packed_product(W, 3, bias=b, activation="tanh")(x)
        return torch.allclose(got, torch.tanh(torch.addmm(b, x, W)), rtol=1e-5, atol=1e-6)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


def packed_product(W: torch.Tensor, batch: int, bias: torch.Tensor | None = None,
                   activation: str = "none") -> Callable[[torch.Tensor], torch.Tensor]:
    """x ↦ activation(x @ W + bias) for x: (batch, K), with W: (K, N) packed once; a new (batch, N) tensor.

    ``activation`` is "none", "tanh" or "relu"; the weight is a snapshot (later changes to W are not seen).
    """
    ops = torch.ops.mkldnn
    with torch.no_grad():
        packed = ops._reorder_linear_weight(W.detach().t().contiguous(), batch)  # oneDNN's (N, K) layout
    bias = None if bias is None else bias.detach()

    def product(x: torch.Tensor) -> torch.Tensor:
        return ops._linear_pointwise(x, packed, bias, activation, [], "")
    return product
