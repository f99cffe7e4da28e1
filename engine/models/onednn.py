"""Matrix products with a weight packed once for many calls, through oneDNN (CPU, float32).

The recurrence multiplies the same (h×h) weight by a new (B×h) block at every step. A BLAS call
packs the weight into its blocked layout on every call; oneDNN packs it once
(``_reorder_linear_weight``) and can apply the activation inside the product. At d2l's shape
(32×512)·(512×512) a packed product with tanh took ~105 µs here, ~120 as a recurrence step with its
copy, against ~160-180 µs for MKL's product plus torch's tanh (the README has the measured effect on
whole minibatches; ``rnn-tui bench`` prints both products' GFLOP/s).

These are torch's own oneDNN operators (``torch.ops.mkldnn``, the ones TorchInductor emits for
CPU linear layers). They are not public API, so ``usable`` checks once that they exist and give
the plain product's result; anything else falls back to the plain path.
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import torch


@functools.cache
def _available() -> bool:
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


# Packing costs a copy of the weight per call (0.2-0.5 ms at 512×512), and a packed product of one
# row is slower than MKL's (35 against 21 µs at d2l's shape): it pays for blocks of many rows only.
MIN_BATCH = 16


def usable(weight: torch.Tensor) -> bool:
    """Whether products with ``weight`` can be packed here: a float32 CPU tensor, oneDNN present."""
    return weight.device.type == "cpu" and weight.dtype == torch.float32 and _available()


def pays(weight: torch.Tensor, batch: int) -> bool:
    """Whether to pack ``weight`` for products with blocks of ``batch`` rows."""
    return batch >= MIN_BATCH and usable(weight)


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
