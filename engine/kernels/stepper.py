"""One-token steps of the scratch RNN for generation in torch, with the weights laid out for speed.

The C stepper (``native/stepper.py``) does the same where the switch chooses it; this one serves
everywhere else (float64 models, no C module, ``--kernels torch`` or ``onednn``).

Generating is a chain of (1×h)·(h×h) and (1×h)·(h×V) products. The CPU BLAS runs such
matrix-vector products on one core, so the columns of a large weight matrix are cut into one
block per thread and multiplied with one batched product (each column is still the same dot
product, so results equal a plain product); an output layer small enough to stay in a core's
cache is one matrix-vector product, as splitting it costs more than it saves. The bias b_h is
folded into the gathered input rows once. Per token: a gather, two products with the additions
fused, tanh, and for greedy decoding an argmax, all into preallocated buffers (at these sizes the
allocator and the dispatcher cost as much as the arithmetic).
"""
from __future__ import annotations

import torch


def _column_blocks(W: torch.Tensor, blocks: int) -> torch.Tensor:
    """(rows, n) -> (blocks, rows, ceil(n / blocks)), zero-padded; blocks cover consecutive columns."""
    rows, n = W.shape
    width = -(-n // blocks)
    if n != blocks * width:
        W = torch.cat([W, W.new_zeros((rows, blocks * width - n))], dim=1)
    return W.view(rows, blocks, width).permute(1, 0, 2).contiguous()  # one copy of the weight


SMALL_OUTPUT_BYTES = 256 * 1024


class RNNStepper:
    """Greedy or sampled steps of a vanilla ``RNNModelScratch`` from a hidden state H: (1, h)."""

    name = "torch stepper"

    def __init__(self, model, H: torch.Tensor, blocks: int):
        self.vocab_size, self.relu = model.vocab_size, model.activation == "relu"
        self.h = model.num_hiddens
        E = (model.W_xh + model.b_h).detach()                                   # (V, h): X_t W_xh + b_h by row
        self.E = _column_blocks(E, blocks)                                       # (k, V, h/k)
        self.W_hh = _column_blocks(model.W_hh.detach(), blocks)                  # (k, h, h/k)
        # two state buffers, used in turn: a step reads H_{t-1} from one while writing H_t to the other
        self._states = [H.new_empty(blocks, 1, self.h // blocks) for _ in range(2)]
        # the blocks are consecutive columns, so (k, 1, h/k) viewed as (1, 1, h) is H in order
        self._inputs = [state.view(1, 1, self.h).expand(blocks, 1, self.h) for state in self._states]
        self._vectors = [state.view(self.h) for state in self._states]
        self._current = 0
        self._vectors[0].copy_(H.view(self.h))
        W_hq, b_q = model.W_hq.detach(), model.b_q.detach()
        self.small_output = W_hq.numel() * W_hq.element_size() <= SMALL_OUTPUT_BYTES
        if self.small_output:
            self.W_hq_T, self.b_q = W_hq.t().contiguous(), b_q.clone()          # (V, h), (V,)
            self._logits = H.new_empty(self.vocab_size)
        else:
            self.W_hq, self.b_q = _column_blocks(W_hq, blocks), _column_blocks(b_q[None], blocks)  # (k, h, V/k)
            self._logits = H.new_empty(blocks, 1, self.W_hq.shape[-1])
        self._flat_logits = self._logits.view(-1)[: self.vocab_size]             # (V,), padding left out

    def _advance(self, index: torch.Tensor) -> None:
        """H ← φ(E[index] + H·W_hh): the state only, no output layer."""
        H_prev = self._inputs[self._current]
        self._current ^= 1
        pre = torch.index_select(self.E, 1, index, out=self._states[self._current])  # (k, 1, h/k)
        pre.baddbmm_(H_prev, self.W_hh)
        pre.clamp_(min=0) if self.relu else pre.tanh_()

    def _step(self, index: torch.Tensor) -> None:
        self._advance(index)
        if self.small_output:
            torch.addmv(self.b_q, self.W_hq_T, self._vectors[self._current], out=self._logits)  # (V,)
        else:
            torch.baddbmm(self.b_q, self._inputs[self._current], self.W_hq, out=self._logits)  # (k, 1, V/k)

    def feed(self, indices: torch.Tensor) -> None:
        """Warm the state up on ``indices`` (n,), int64: a prompt whose outputs nobody reads."""
        for index in indices.split(1):
            self._advance(index)

    def logits(self, index: torch.Tensor) -> torch.Tensor:
        """Feed token ``index`` (1-element int64 tensor); the next token's logits, (1, V).

        The result is a view of a buffer that the next call overwrites."""
        self._step(index)
        return self._flat_logits.view(1, -1)

    def greedy(self, index: torch.Tensor, count: int) -> torch.Tensor:
        """Feed ``index``, then each most likely next token in turn: the ``count`` tokens chosen, (count,)."""
        chosen = torch.empty(count, dtype=torch.long, device=index.device)
        previous = index
        for slot in chosen.split(1):
            self._step(previous)
            torch.argmax(self._flat_logits, dim=0, keepdim=True, out=slot)
            previous = slot
        return chosen

    def state(self) -> tuple[torch.Tensor]:
        return (self._vectors[self._current].view(1, self.h).clone(),)
