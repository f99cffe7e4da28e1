"""The vanilla-RNN recurrence H_t = φ(X_t W_xh + b_h + H_{t-1} W_hh) with a hand-written backward.

Autograd through a Python loop records ~5 nodes per step and computes dW_hh as ``num_steps``
thin (h×B)·(B×h) products. Here each step is two in-place operations on a preallocated buffer
(a product accumulated onto the input projection, then φ), backward is two per step (the product
that carries dH back, then φ'), and dW_hh is one (h×TB)·(TB×h) product, H0 included. What is left
per step is the product and φ (torch's float32 tanh runs on one thread below 32k elements: at
d2l's shape about a fifth of a step). ``tests/test_models.py`` proves this equal to autograd, and
``gradcheck`` checks it in float64.
"""
from __future__ import annotations

import torch


class RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor, relu: bool):
        # XW: (T, B, h) gathered input rows X_t W_xh; b_h: (h,); H0: (B, h); W_hh: (h, h)
        steps, batch, hidden = XW.shape
        # states[0] = H0 and states[t] = H_t: the backward's dW_hh is then one product over all steps
        states = XW.new_empty((steps + 1, batch, hidden))
        states[0] = H0
        Hs = torch.add(XW, b_h, out=states[1:])  # becomes the output, Hs[t] = H_{t+1}, in place
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
        Hs, hidden = states[1:], states.shape[-1]
        # φ' for every step at once, from the outputs: 1 - H² (tanh) or [H > 0] (ReLU)
        slope = (Hs > 0).to(Hs.dtype) if ctx.relu else torch.mul(Hs, Hs).neg_().add_(1)
        grad_pre = grad_Hs.clone(memory_format=torch.contiguous_format)  # becomes dL/d(pre-activation)
        W_hh_T = W_hh.t()
        steps, slopes = grad_pre.unbind(0), slope.unbind(0)
        steps[-1].mul_(slopes[-1])
        for t in range(len(steps) - 2, -1, -1):
            # dL/dH_t: the loss's own gradient plus what flows back from step t+1
            steps[t].addmm_(steps[t + 1], W_hh_T).mul_(slopes[t])
        grad_H0 = steps[0] @ W_hh_T if ctx.needs_input_grad[2] else None
        grad_b = grad_pre.sum((0, 1)) if ctx.needs_input_grad[1] else None
        # dW_hh = Σ_t H_{t-1}ᵀ · grad_pre_t, H0 included: one (h×TB)·(TB×h) product
        grad_W_hh = states[:-1].reshape(-1, hidden).t() @ grad_pre.reshape(-1, hidden)
        return grad_pre, grad_b, grad_H0, grad_W_hh, None


def rnn_recurrence(XW: torch.Tensor, b_h: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor,
                   relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the input rows X_t W_xh and the bias."""
    return RNNRecurrence.apply(XW, b_h, H0, W_hh, relu)
