"""The vanilla-RNN recurrence H_t = φ(X_t W_xh + b_h + H_{t-1} W_hh) with a hand-written backward.

Autograd through a Python loop records ~5 nodes per step and computes dW_hh as ``num_steps``
thin (h×B)·(B×h) products. Here each step of the forward is one product with φ, each step of the
backward one product and one fused multiply-add, and dW_hh is one (h×TB)·(TB×h) product over all
steps, H0 included. ``tests/test_models.py`` proves both versions below equal to autograd, and
``gradcheck`` checks the general one in float64.

Two versions of the forward:

- ``rnn_recurrence`` takes the gathered input rows X_t W_xh (any vocabulary) and runs each step as
  an in-place product plus φ on a preallocated buffer.
- ``rnn_recurrence_onehot``, for a vocabulary no larger than the hidden size on a CPU with oneDNN
  (``onednn.py``), multiplies [H_{t-1} | one-hot(X_t)] by [W_hh; W_xh] — the textbook's one-hot
  product, fused — with a weight packed once per call and φ applied inside the product: torch's own
  float32 tanh runs on one thread below 32k elements, a fifth of a step at d2l's shape, where
  oneDNN's costs almost nothing. Its backward gets dW_xh from the same large product as dW_hh.

Where ``native_recurrence.pays`` (float32 on a CPU with the C module's AVX-512 or AVX2 kernels), the
steps of ``rnn_recurrence``'s forward and of the backward loop run in C, all of them in one call,
and the one-hot version is not chosen.
"""
from __future__ import annotations

import torch

from . import native_recurrence, onednn


def _activation_slope(Hs: torch.Tensor, relu: bool) -> torch.Tensor:
    """φ'(pre-activation) for every step at once, from the outputs: [H > 0] (ReLU) or 1 - H² (tanh)."""
    return (Hs > 0).to(Hs.dtype) if relu else torch.mul(Hs, Hs).neg_().add_(1)


def _grad_pre_activations(grad_Hs: torch.Tensor, slope: torch.Tensor, W_hh: torch.Tensor) -> torch.Tensor:
    """dL/d(pre-activation) for every step, (T, B, h), contiguous: back through time from the last step.

    g_t = (dL/dH_t + g_{t+1} W_hhᵀ) ⊙ φ'_t = dL/dH_t ⊙ φ'_t + (g_{t+1} W_hhᵀ) ⊙ φ'_t
    """
    # grad_Hs may be strided (it is whatever the consumers of Hs gave back): one pass, then contiguous steps
    grad_pre = torch.mul(grad_Hs, slope, out=torch.empty_like(slope, memory_format=torch.contiguous_format))
    if native_recurrence.pays(W_hh):
        native_recurrence.backward_steps(grad_pre, slope.contiguous(), W_hh.contiguous())
        return grad_pre
    steps, slopes = grad_pre.unbind(0), slope.unbind(0)
    W_hh_T, batch = W_hh.t(), len(steps[0])
    if onednn.pays(W_hh, batch):
        back = onednn.packed_product(W_hh_T, batch)
    else:
        def back(g: torch.Tensor) -> torch.Tensor:
            return g @ W_hh_T
    for t in range(len(steps) - 2, -1, -1):
        steps[t].addcmul_(back(steps[t + 1]), slopes[t])
    return grad_pre


class RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor, relu: bool):
        # XW: (T, B, h) gathered input rows X_t W_xh; b_h: (h,); H0: (B, h); W_hh: (h, h)
        steps, batch, hidden = XW.shape
        # states[0] = H0 and states[t] = H_t: the backward's dW_hh is then one product over all steps
        states = XW.new_empty((steps + 1, batch, hidden))
        states[0] = H0
        Hs = torch.add(XW, b_h, out=states[1:])  # becomes the output, Hs[t] = H_{t+1}, in place
        if native_recurrence.pays(W_hh):
            native_recurrence.forward_steps(states, W_hh.contiguous(), relu)
        else:
            H_prev = states[0]
            for H_t in Hs.unbind(0):
                H_t.addmm_(H_prev, W_hh)
                H_prev = H_t.clamp_(min=0) if relu else H_t.tanh_()
        ctx.save_for_backward(W_hh, states)
        ctx.relu = relu
        return Hs

    @staticmethod
    def backward(ctx, grad_Hs: torch.Tensor):
        W_hh, states = ctx.saved_tensors
        hidden = states.shape[-1]
        grad_pre = _grad_pre_activations(grad_Hs, _activation_slope(states[1:], ctx.relu), W_hh)
        grad_H0 = grad_pre[0] @ W_hh.t() if ctx.needs_input_grad[2] else None
        grad_b = grad_pre.sum((0, 1)) if ctx.needs_input_grad[1] else None
        # dW_hh = Σ_t H_{t-1}ᵀ · g_t, H0 included: one (h×TB)·(TB×h) product
        grad_W_hh = states[:-1].reshape(-1, hidden).t() @ grad_pre.reshape(-1, hidden)
        return grad_pre, grad_b, grad_H0, grad_W_hh, None


class RNNRecurrenceOneHot(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: torch.Tensor, W_xh: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor,
                W_hh: torch.Tensor, relu: bool):
        # X: (T, B) int64 token indices; W_xh: (V, h); b_h: (h,); H0: (B, h); W_hh: (h, h)
        steps, batch = X.shape
        vocab, hidden = W_xh.shape
        # rows[t] = [H_t | one-hot(X_t)]: step t's input, and for the backward every H_{t-1} and X_t
        rows = H0.new_zeros((steps + 1, batch, hidden + vocab))
        rows[:steps, :, hidden:].scatter_(2, X.unsqueeze(2), 1.0)
        rows[0, :, :hidden] = H0
        step = onednn.packed_product(torch.cat([W_hh, W_xh]), batch, bias=b_h, activation="relu" if relu else "tanh")
        inputs, states = rows.unbind(0), rows[1:, :, :hidden].unbind(0)
        for t in range(steps):
            states[t].copy_(step(inputs[t]))
        ctx.save_for_backward(W_hh, rows)
        ctx.relu, ctx.hidden = relu, hidden
        return rows[1:, :, :hidden]  # (T, B, h), a strided view: rows are h + V apart

    @staticmethod
    def backward(ctx, grad_Hs: torch.Tensor):
        W_hh, rows = ctx.saved_tensors
        hidden = ctx.hidden
        grad_pre = _grad_pre_activations(grad_Hs, _activation_slope(rows[1:, :, :hidden], ctx.relu), W_hh)
        flat = grad_pre.reshape(-1, hidden)
        # [dW_hh; dW_xh] = Σ_t [H_{t-1} | one-hot(X_t)]ᵀ · g_t: one ((h+V)×TB)·(TB×h) product
        grad_weights = rows[:-1].reshape(-1, rows.shape[-1]).t() @ flat
        grad_b = flat.sum(0) if ctx.needs_input_grad[2] else None
        grad_H0 = grad_pre[0] @ W_hh.t() if ctx.needs_input_grad[3] else None
        return None, grad_weights[hidden:], grad_b, grad_H0, grad_weights[:hidden], None


def rnn_recurrence(XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor,
                   relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the input rows X_t W_xh and the bias."""
    return RNNRecurrence.apply(XW, b_h, H0, W_hh, relu)


def rnn_recurrence_onehot(X: torch.Tensor, W_xh: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor,
                          W_hh: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the token indices X: (T, B). Needs oneDNN."""
    return RNNRecurrenceOneHot.apply(X, W_xh, b_h, H0, W_hh, relu)


def onehot_pays(W_xh: torch.Tensor, W_hh: torch.Tensor, batch: int) -> bool:
    """Whether ``rnn_recurrence_onehot`` runs here and its one-hot block costs less than it saves.

    Not where the C recurrence runs: the gather path's steps are then C's, faster than oneDNN's."""
    return (onednn.pays(W_hh, batch) and W_xh.dtype == W_hh.dtype and W_xh.shape[0] <= W_hh.shape[0]
            and not native_recurrence.pays(W_hh))


def recurrence_name(W_xh: torch.Tensor, W_hh: torch.Tensor, batch: int) -> str:
    """Which steps the fast scratch RNN's recurrence runs with these weights (the bench prints it)."""
    if native_recurrence.pays(W_hh):
        return f"C, {native_recurrence.instruction_set()}"
    if onehot_pays(W_xh, W_hh, batch):
        return "oneDNN packed, one-hot fused"
    return "oneDNN packed" if onednn.pays(W_hh, batch) else "torch"
