"""Generation steps of the vanilla scratch RNN in C (``_native_rnn``: feed, step, greedy).

The same interface as the torch stepper (``../stepper.py``): feed, logits, greedy, state. This side
owns every buffer and lays the weights out as the C loop reads them: float32, contiguous, hidden and
vocabulary padded with zeros to whole vectors.
"""
from __future__ import annotations

import torch

from rnn_tui.engine.kernels.native import _native_rnn

PADDING = 16  # floats: native_rnn.c pads to a whole number of vectors of every instruction set
# a step with this many bytes of weights or more is split by columns over the cores (one team per
# chunk, two barriers a character); below it, waking the team costs more than a core saves
PARALLEL_BYTES = 512 * 1024
# each character waits twice for the slowest thread, so more than a few threads are not asked for
MAX_THREADS = 4


def _padded(W: torch.Tensor, columns: int) -> torch.Tensor:
    """(rows, n) -> (rows, columns) float32, contiguous, zeros right of column n."""
    out = W.new_zeros((W.shape[0], columns), dtype=torch.float32)
    out[:, : W.shape[1]] = W
    return out


def _whole_vectors(n: int) -> int:
    return -(-n // PADDING) * PADDING


class NativeRNNStepper:
    """Greedy or sampled steps of a vanilla ``RNNModelScratch`` from a hidden state H: (1, h)."""

    @property
    def name(self) -> str:
        return f"C stepper, {_native_rnn.in_use()}"

    def __init__(self, model, H: torch.Tensor):
        self.h, self.vocab_size = model.num_hiddens, model.vocab_size
        hp, vp = _whole_vectors(self.h), _whole_vectors(self.vocab_size)
        self.E = _padded((model.W_xh + model.b_h).detach(), hp)        # (V, hp): X_t W_xh + b_h by row
        self.W_hh = _padded(model.W_hh.detach(), hp)                    # (h, hp)
        self.W_hq = _padded(model.W_hq.detach(), vp)                    # (h, vp)
        self.b_q = _padded(model.b_q.detach()[None], vp).view(vp)       # (vp,)
        self.H, self._scratch = torch.zeros(hp), torch.zeros(hp)        # padded units stay 0
        self.H[: self.h] = H.view(self.h)
        self._logits = torch.zeros(vp)
        # the C side reads the buffers through these addresses: the tensors above live as long as self
        large = (self.W_hh.numel() + self.W_hq.numel()) * 4 >= PARALLEL_BYTES
        self._layout = (self.E.data_ptr(), self.W_hh.data_ptr(), self.W_hq.data_ptr(), self.b_q.data_ptr(),
                        self.H.data_ptr(), self._scratch.data_ptr(), self._logits.data_ptr(),
                        self.h, hp, self.vocab_size, vp, model.activation == "relu",
                        min(torch.get_num_threads(), MAX_THREADS) if large else 1)

    def feed(self, indices: torch.Tensor) -> None:
        """Warm the state up on ``indices`` (n,), int64: a prompt whose outputs nobody reads."""
        indices = indices.to(torch.long).contiguous()
        _native_rnn.feed(self._layout, indices.data_ptr(), indices.numel())

    def logits(self, index: torch.Tensor) -> torch.Tensor:
        """Feed token ``index`` (1-element int64 tensor); the next token's logits, (1, V).

        The result is a view of a buffer that the next call overwrites."""
        _native_rnn.step(self._layout, int(index))
        return self._logits[: self.vocab_size].view(1, -1)

    def greedy(self, index: torch.Tensor, count: int) -> torch.Tensor:
        """Feed ``index``, then each most likely next token in turn: the ``count`` tokens chosen, (count,)."""
        chosen = torch.empty(count, dtype=torch.long)
        _native_rnn.greedy(self._layout, int(index), count, chosen.data_ptr())
        return chosen

    def state(self) -> tuple[torch.Tensor]:
        return (self.H[: self.h].view(1, self.h).clone(),)
