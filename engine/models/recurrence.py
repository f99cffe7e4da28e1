"""The vanilla-RNN recurrence H_t = φ(XW_t + H_{t-1} W_hh) with a hand-written backward.

Autograd through a Python loop records ~5 nodes per step and computes dW_hh as ``num_steps``
thin (h×B)·(B×h) products. Here the forward runs with no graph, and the backward runs one
sequential product per step for dH, then a single (h×TB)·(TB×h) product for dW_hh.
``tests/test_models.py`` proves it equal to autograd, and ``gradcheck`` checks it in float64.
"""
from __future__ import annotations

import torch


class RNNRecurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, XW: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor, relu: bool):
        # XW: (T, B, h) input projections with b_h folded in; H0: (B, h); W_hh: (h, h)
        num_steps = XW.shape[0]
        Hs = XW.new_empty((num_steps + 1, *H0.shape))  # Hs[0] = H0, Hs[t+1] = H_t
        Hs[0] = H0
        for t in range(num_steps):
            torch.addmm(XW[t], Hs[t], W_hh, out=Hs[t + 1])
            if relu:
                Hs[t + 1].clamp_(min=0)
            else:
                Hs[t + 1].tanh_()
        ctx.save_for_backward(Hs, W_hh)
        ctx.relu = relu
        return Hs[1:].clone()  # (T, B, h)

    @staticmethod
    def backward(ctx, grad_Hs: torch.Tensor):
        Hs, W_hh = ctx.saved_tensors
        num_steps, _, hidden = grad_Hs.shape
        grad_pre = torch.empty_like(grad_Hs)  # dL/d(pre-activation) per step
        grad_H = torch.zeros_like(Hs[0])      # what flows into H_t from step t+1
        W_hh_T = W_hh.t()
        for t in range(num_steps - 1, -1, -1):
            H_t = Hs[t + 1]
            g = grad_Hs[t] + grad_H
            if ctx.relu:
                torch.mul(g, H_t > 0, out=grad_pre[t])
            else:
                torch.mul(g, 1 - H_t * H_t, out=grad_pre[t])
            grad_H = grad_pre[t] @ W_hh_T
        flat_pre = grad_pre.view(-1, hidden)
        grad_W_hh = Hs[:-1].reshape(-1, hidden).t() @ flat_pre
        return grad_pre, grad_H, grad_W_hh, None


def rnn_recurrence(XW: torch.Tensor, H0: torch.Tensor, W_hh: torch.Tensor, relu: bool = False) -> torch.Tensor:
    """All hidden states (T, B, h) of a vanilla RNN given the input projections."""
    return RNNRecurrence.apply(XW, H0, W_hh, relu)
