"""The vanilla-RNN recurrence H_t = φ(X_t W_xh + b_h + H_{t-1} W_hh) with a hand-written backward.

Autograd through a Python loop records ~5 nodes per step and computes dW_hh as ``num_steps``
thin (h×B)·(B×h) products. Here each step of the forward is one product with φ, each step of the
backward one product and one fused multiply-add, and dW_hh is one (h×TB)·(TB×h) product over all
steps, H0 included. The tests prove every version below equal to autograd through the book's step.

The steps themselves are a ``StepKernels`` that the switch (``__init__.py``) hands in: torch's
products (``TORCH_STEPS``), the backward's products with W_hhᵀ packed once by oneDNN
(``ONEDNN_STEPS``), or every step of a minibatch in one call to the C module (``native/``).

``rnn_recurrence`` takes the gathered input rows X_t W_xh (any vocabulary). ``rnn_recurrence_onehot``
(oneDNN, for a vocabulary no larger than the hidden size) multiplies [H_{t-1} | one-hot(X_t)] by
[W_hh; W_xh], the textbook's one-hot product fused into the recurrent one, with φ applied inside the
product; its backward gets dW_xh from the same large product as dW_hh.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from rnn_tui.engine.kernels import onednn


@dataclass(frozen=True)
class StepKernels:
    """The two loops over time: both work in place on contiguous (T, B, h) buffers."""
    name: str
    # states (T+1, B, h): H0, then X_t W_xh + b_h; made H_t = φ(states[t] + H_{t-1} W_hh), t = 1..T
    forward: Callable[[torch.Tensor, torch.Tensor, bool], None]
    # grad_pre (T, B, h): dL/dH_t ⊙ φ'_t; made g_t += (g_{t+1} W_hhᵀ) ⊙ φ'_t, t = T-2..0
    backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def torch_forward_steps(states: torch.Tensor, W_hh: torch.Tensor, relu: bool) -> None:
    H_prev = states[0]
    for H_t in states[1:].unbind(0):
        H_t.addmm_(H_prev, W_hh)
        H_prev = H_t.clamp_(min=0) if relu else H_t.tanh_()


def _backward_steps(grad_pre: torch.Tensor, slope: torch.Tensor, back: Callable[[torch.Tensor], torch.Tensor]) -> None:
    steps, slopes = grad_pre.unbind(0), slope.unbind(0)
    for t in range(len(steps) - 2, -1, -1):
        steps[t].addcmul_(back(steps[t + 1]), slopes[t])


def torch_backward_steps(grad_pre: torch.Tensor, slope: torch.Tensor, W_hh: torch.Tensor) -> None:
    W_hh_T = W_hh.t()
    _backward_steps(grad_pre, slope, lambda g: g @ W_hh_T)


def onednn_backward_steps(grad_pre: torch.Tensor, slope: torch.Tensor, W_hh: torch.Tensor) -> None:
    _backward_steps(grad_pre, slope, onednn.packed_product(W_hh.t(), grad_pre.shape[1]))


TORCH_STEPS = StepKernels("torch", torch_forward_steps, torch_backward_steps)
ONEDNN_STEPS = StepKernels("oneDNN", torch_forward_steps, onednn_backward_steps)


def _activation_slope(Hs: torch.Tensor, relu: bool) -> torch.Tensor:
    """φ'(pre-activation) for every step at once, from the outputs: [H > 0] (ReLU) or 1 - H² (tanh)."""
    return (Hs > 0).to(Hs.dtype) if relu else torch.mul(Hs, Hs).neg_().add_(1)


def _grad_pre_activations(grad_Hs: torch.Tensor, slope: torch.Tensor, W_hh: torch.Tensor,
                          steps: StepKernels) -> torch.Tensor:
    """dL/d(pre-activation) for every step, (T, B, h), contiguous: back through time from the last step.

    g_t = (dL/dH_t + g_{t+1} W_hhᵀ) ⊙ φ'_t = dL/dH_t ⊙ φ'_t + (g_{t+1} W_hhᵀ) ⊙ φ'_t
    """
    # grad_Hs may be strided (it is whatever the consumers of Hs gave back): one pass, then contiguous steps
    grad_pre = torch.mul(grad_Hs, slope, out=torch.empty_like(slope, memory_format=torch.contiguous_format))
    steps.backward(grad_pre, slope.contiguous(), W_hh.contiguous())
    return grad_pre


class RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor, relu: bool,
                steps_with: StepKernels):
        # XW: (T, B, h) gathered input rows X_t W_xh; b_h: (h,); H0: (B, h); W_hh: (h, h)
        steps, batch, hidden = XW.shape
        # states[0] = H0 and states[t] = H_t: the backward's dW_hh is then one product over all steps
        states = XW.new_empty((steps + 1, batch, hidden))
        states[0] = H0
        Hs = torch.add(XW, b_h, out=states[1:])  # becomes the output, Hs[t] = H_{t+1}, in place
        steps_with.forward(states, W_hh.contiguous(), relu)
        ctx.save_for_backward(W_hh, states)
        ctx.relu, ctx.steps_with = relu, steps_with
        return Hs

    @staticmethod
    def backward(ctx, grad_Hs: torch.Tensor):
        W_hh, states = ctx.saved_tensors
        hidden = states.shape[-1]
        grad_pre = _grad_pre_activations(grad_Hs, _activation_slope(states[1:], ctx.relu), W_hh,
                                         ctx.steps_with)
        grad_H0 = grad_pre[0] @ W_hh.t() if ctx.needs_input_grad[2] else None
        grad_b = grad_pre.sum((0, 1)) if ctx.needs_input_grad[1] else None
        # dW_hh = Σ_t H_{t-1}ᵀ · g_t, H0 included: one (h×TB)·(TB×h) product
        grad_W_hh = states[:-1].reshape(-1, hidden).t() @ grad_pre.reshape(-1, hidden)
        return grad_pre, grad_b, grad_H0, grad_W_hh, None, None


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
        grad_pre = _grad_pre_activations(grad_Hs, _activation_slope(rows[1:, :, :hidden], ctx.relu), W_hh,
                                         ONEDNN_STEPS)
        flat = grad_pre.reshape(-1, hidden)
        # [dW_hh; dW_xh] = Σ_t [H_{t-1} | one-hot(X_t)]ᵀ · g_t: one ((h+V)×TB)·(TB×h) product
        grad_weights = rows[:-1].reshape(-1, rows.shape[-1]).t() @ flat
        grad_b = flat.sum(0) if ctx.needs_input_grad[2] else None
        grad_H0 = grad_pre[0] @ W_hh.t() if ctx.needs_input_grad[3] else None
        return None, grad_weights[hidden:], grad_b, grad_H0, grad_weights[:hidden], None


def rnn_recurrence(XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor,
                   relu: bool = False, steps_with: StepKernels = TORCH_STEPS) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the input rows X_t W_xh and the bias."""
    return RNNRecurrence.apply(XW, b_h, H0, W_hh, relu, steps_with)


def rnn_recurrence_onehot(X: torch.Tensor, W_xh: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor,
                          W_hh: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the token indices X: (T, B). Needs oneDNN."""
    return RNNRecurrenceOneHot.apply(X, W_xh, b_h, H0, W_hh, relu)
