"""Training's vanilla-RNN recurrence in C (``_native_rnn.recurrence``): all steps of a minibatch in one call.

Each step's product is near the CPU's peak already in torch; what a per-step loop in Python adds is
the calls around it: a dispatch, a copy and a fixed cost for every step, twice per minibatch. In C
the steps run back to back on the cores torch uses, through the OpenMP runtime torch loaded, each
core holding its panels of W_hh in its own cache for the whole minibatch. ``../recurrence.py`` calls
these two functions; everything around them (φ', dW_hh, the bias gradient) stays in torch.
"""
from __future__ import annotations

import torch

from rnn_tui.engine.kernels.native import _native_rnn


def _check(name: str, tensor: torch.Tensor, shape: tuple[int, ...]) -> None:
    # the C side trusts the addresses: every buffer must be what it is told
    if tensor.dtype != torch.float32 or tensor.device.type != "cpu" or not tensor.is_contiguous() \
            or tuple(tensor.shape) != shape:
        raise ValueError(f"{name}: expected a contiguous float32 CPU tensor of shape {shape}, got "
                         f"{tensor.dtype} {tuple(tensor.shape)} on {tensor.device}")


def forward_steps(states: torch.Tensor, W_hh: torch.Tensor, relu: bool, threads: int | None = None) -> None:
    """states[t] = φ(states[t] + states[t-1]·W_hh) for t = 1..T, in place, in order.

    states: (T+1, B, h), H0 first, then the input rows X_t·W_xh + b_h; W_hh: (h, h).
    ``threads``: torch's thread count unless given."""
    steps, batch, hidden = states.shape[0] - 1, states.shape[1], states.shape[2]
    _check("states", states, (steps + 1, batch, hidden))
    _check("W_hh", W_hh, (hidden, hidden))
    _native_rnn.recurrence(states.data_ptr(), 0, W_hh.data_ptr(), steps, batch, hidden, False, relu,
                           threads or torch.get_num_threads())


def backward_steps(grad_pre: torch.Tensor, slope: torch.Tensor, W_hh: torch.Tensor,
                   threads: int | None = None) -> None:
    """grad_pre[t] += (grad_pre[t+1]·W_hhᵀ) ⊙ slope[t] for t = T-2 down to 0, in place.

    grad_pre: (T, B, h), dL/dH_t ⊙ φ'_t on entry; slope: φ'_t, (T, B, h); W_hh: (h, h)."""
    _check("grad_pre", grad_pre, tuple(grad_pre.shape))
    steps, batch, hidden = grad_pre.shape
    _check("slope", slope, (steps, batch, hidden))
    _check("W_hh", W_hh, (hidden, hidden))
    _native_rnn.recurrence(grad_pre.data_ptr(), slope.data_ptr(), W_hh.data_ptr(), steps, batch, hidden,
                           True, False, threads or torch.get_num_threads())
