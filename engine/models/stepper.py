"""One-token steps of the scratch RNN for generation, with the weights laid out for speed.

Generating is a chain of (1×h)·(h×h) and (1×h)·(h×V) products. The CPU BLAS runs such
matrix-vector products on one core, so the columns of each weight matrix are cut into one block
per thread and multiplied with one batched product (each column is still the same dot product, so
results equal a plain product). The bias b_h is folded into the gathered input rows once.
Per token: a gather, two batched products, two additions, tanh.
"""
from __future__ import annotations

import torch

from .scratch import RNNModelScratch


def _column_blocks(W: torch.Tensor, blocks: int) -> torch.Tensor:
    """(rows, n) -> (blocks, rows, ceil(n / blocks)), zero-padded; blocks cover consecutive columns."""
    rows, n = W.shape
    width = -(-n // blocks)
    padded = W.new_zeros((rows, blocks * width))
    padded[:, :n] = W
    return padded.view(rows, blocks, width).permute(1, 0, 2).contiguous()


class RNNStepper:
    """Greedy or sampled steps of a vanilla ``RNNModelScratch`` from a hidden state H: (1, h)."""

    def __init__(self, model, H: torch.Tensor, blocks: int):
        self.vocab_size, self.relu = model.vocab_size, model.activation == "relu"
        self.blocks = blocks
        E = (model.W_xh + model.b_h).detach()                                   # (V, h): X_t W_xh + b_h by row
        self.E = _column_blocks(E, blocks)                                       # (k, V, h/k)
        self.W_hh = _column_blocks(model.W_hh.detach(), blocks)                  # (k, h, h/k)
        self.W_hq = _column_blocks(model.W_hq.detach(), blocks)                  # (k, h, V/k)
        self.b_q = _column_blocks(model.b_q.detach()[None], blocks)              # (k, 1, V/k)
        self.h = model.num_hiddens
        self.H = H.reshape(1, 1, self.h)

    def logits(self, index: torch.Tensor) -> torch.Tensor:
        """Feed token ``index`` (1-element int64 tensor); the next token's logits, (1, V)."""
        H_all = self.H.expand(self.blocks, 1, self.h)
        pre = torch.bmm(H_all, self.W_hh).add_(self.E.index_select(1, index))  # (k, 1, h/k)
        H = pre.clamp_(min=0) if self.relu else pre.tanh_()
        self.H = H.view(1, 1, self.h)  # the blocks are consecutive columns: already in order
        padded = torch.bmm(self.H.expand(self.blocks, 1, self.h), self.W_hq).add_(self.b_q)  # (k, 1, V/k)
        return padded.view(1, -1)[:, : self.vocab_size]

    def state(self) -> tuple[torch.Tensor]:
        return (self.H.view(1, self.h),)


def stepper_for(model, state) -> RNNStepper | None:
    """A stepper where it pays (the vanilla scratch RNN on the CPU), else None."""
    H = state[0]
    if not isinstance(model, RNNModelScratch) or model.cell != "rnn":
        return None
    if H.device.type != "cpu" or H.shape != (1, model.num_hiddens):
        return None
    threads = max(1, min(torch.get_num_threads(), 8))
    blocks = max(k for k in range(1, threads + 1) if model.num_hiddens % k == 0)
    return RNNStepper(model, H, blocks)
