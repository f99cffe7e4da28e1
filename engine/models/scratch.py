"""RNN, GRU and LSTM from scratch (d2l §8.5, §9.1, §9.2), as ``nn.Module``s.

Parameters carry the book's names and initialisation (N(0, 0.01²) weights, zero biases).
Two exactly equivalent paths compute the same function:

- ``textbook``: one-hot inputs and a per-step loop that applies the output layer at every step,
  as in d2l's ``rnn`` function.
- ``fast`` (default): input rows gathered by index (one-hot · W ≡ W[index]), all input
  projections in one operation, the output layer and the cross-entropy over all steps as one
  operation and, for the vanilla RNN, the hand-written backward through time, its steps on the
  kernels ``model.kernels`` names (``engine/kernels``: auto, c, onednn or torch).

Shapes at the boundary: ``forward(X: (B, T) int64, state) -> (logits: (T·B, V), state)``;
logits are time-major, to match ``Y.T.reshape(-1)`` as in d2l.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rnn_tui.engine.config import ACTIVATIONS, KERNELS, SCRATCH_PATHS as PATHS
from rnn_tui.engine.kernels import linear_cross_entropy, rnn_hidden_states

CELLS = ("rnn", "gru", "lstm")

# Gate names in the order d2l lists them; each gate g has W_xg, W_hg, b_g.
_GATES = {"rnn": ("h",), "gru": ("z", "r", "h"), "lstm": ("i", "f", "o", "c")}


class RNNModelScratch(nn.Module):
    def __init__(self, vocab_size: int, num_hiddens: int, cell: str = "rnn",
                 path: str = "fast", activation: str = "tanh", kernels: str = "auto"):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}")
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        if kernels not in KERNELS:
            raise ValueError(f"unknown kernels {kernels!r}")
        self.vocab_size, self.num_hiddens = vocab_size, num_hiddens
        self.cell, self.path, self.activation, self.kernels = cell, path, activation, kernels

        def normal(*shape):
            return nn.Parameter(torch.randn(*shape) * 0.01)

        for gate in _GATES[cell]:
            setattr(self, f"W_x{gate}", normal(vocab_size, num_hiddens))
            setattr(self, f"W_h{gate}", normal(num_hiddens, num_hiddens))
            setattr(self, f"b_{gate}", nn.Parameter(torch.zeros(num_hiddens)))
        self.W_hq = normal(num_hiddens, vocab_size)
        self.b_q = nn.Parameter(torch.zeros(vocab_size))

    def begin_state(self, batch_size: int, device=None):
        device = device or self.W_hq.device
        H = torch.zeros(batch_size, self.num_hiddens, device=device, dtype=self.W_hq.dtype)
        return (H, torch.zeros_like(H)) if self.cell == "lstm" else (H,)

    def forward(self, X: torch.Tensor, state):
        if self.path == "textbook":
            return self._forward_textbook(X, state)
        return self._forward_fast(X, state)

    # -- textbook path: one-hot, one step at a time, output layer per step --------------------
    def _forward_textbook(self, X, state):
        inputs = F.one_hot(X.T, self.vocab_size).to(self.W_hq.dtype)  # (T, B, V)
        outputs = []
        for X_t in inputs:
            state = self._step(X_t, state)
            outputs.append(state[0] @ self.W_hq + self.b_q)
        return torch.cat(outputs, dim=0), state

    def _act(self, x):
        return torch.relu(x) if self.activation == "relu" else torch.tanh(x)

    def _step(self, X_t, state):
        """One time step with the book's equations; X_t is one-hot (B, V)."""
        p = self
        if self.cell == "rnn":
            (H,) = state
            return (self._act(X_t @ p.W_xh + H @ p.W_hh + p.b_h),)
        if self.cell == "gru":
            (H,) = state
            Z = torch.sigmoid(X_t @ p.W_xz + H @ p.W_hz + p.b_z)
            R = torch.sigmoid(X_t @ p.W_xr + H @ p.W_hr + p.b_r)
            H_tilde = torch.tanh(X_t @ p.W_xh + (R * H) @ p.W_hh + p.b_h)
            return (Z * H + (1 - Z) * H_tilde,)
        H, C = state
        I = torch.sigmoid(X_t @ p.W_xi + H @ p.W_hi + p.b_i)
        F_ = torch.sigmoid(X_t @ p.W_xf + H @ p.W_hf + p.b_f)
        O = torch.sigmoid(X_t @ p.W_xo + H @ p.W_ho + p.b_o)
        C_tilde = torch.tanh(X_t @ p.W_xc + H @ p.W_hc + p.b_c)
        C = F_ * C + I * C_tilde
        return (O * torch.tanh(C), C)

    def loss(self, X: torch.Tensor, Y: torch.Tensor, state):
        """Mean cross-entropy of predicting Y (B, T) from X (B, T) -> (loss, state)."""
        y = Y.T.reshape(-1)  # time-major, like the logits
        if self.path == "textbook":
            logits, state = self._forward_textbook(X, state)
            return F.cross_entropy(logits, y), state
        Hs, state = self._hidden_fast(X, state)
        return linear_cross_entropy(Hs.reshape(-1, self.num_hiddens), self.W_hq, self.b_q, y), state

    # -- fast path: gather, batched projections, one output matmul -----------------------------
    def _hidden_fast(self, X, state):
        hidden_states = {"rnn": self._rnn_fast, "gru": self._gru_fast, "lstm": self._lstm_fast}[self.cell]
        return hidden_states(X, state)  # (T, B, h), state

    def _forward_fast(self, X, state):
        Hs, new_state = self._hidden_fast(X, state)
        logits = torch.addmm(self.b_q, Hs.reshape(-1, self.num_hiddens), self.W_hq)  # (T·B, V)
        return logits, new_state

    def _rnn_fast(self, X, state):
        Hs = rnn_hidden_states(self.kernels, X.T, self.W_xh, self.b_h, state[0], self.W_hh,
                               relu=self.activation == "relu")
        return Hs, (Hs[-1],)

    def _input_projections(self, X):
        gates = _GATES[self.cell]
        W_x = torch.cat([getattr(self, f"W_x{g}") for g in gates], dim=1)  # (V, G·h)
        b = torch.cat([getattr(self, f"b_{g}") for g in gates])
        return F.embedding(X.T, W_x) + b  # (T, B, G·h)

    def _gru_fast(self, X, state):
        h = self.num_hiddens
        (H,) = state
        W_hzr = torch.cat([self.W_hz, self.W_hr], dim=1)
        outs = []
        for XW_t in self._input_projections(X):
            ZR = torch.sigmoid(XW_t[:, : 2 * h] + H @ W_hzr)
            Z, R = ZR[:, :h], ZR[:, h:]
            H_tilde = torch.tanh(XW_t[:, 2 * h:] + (R * H) @ self.W_hh)
            H = Z * H + (1 - Z) * H_tilde
            outs.append(H)
        return torch.stack(outs), (H,)

    def _lstm_fast(self, X, state):
        h = self.num_hiddens
        H, C = state
        W_h = torch.cat([self.W_hi, self.W_hf, self.W_ho, self.W_hc], dim=1)
        outs = []
        for XW_t in self._input_projections(X):
            gates = XW_t + H @ W_h
            IFO = torch.sigmoid(gates[:, : 3 * h])
            C = IFO[:, h: 2 * h] * C + IFO[:, :h] * torch.tanh(gates[:, 3 * h:])
            H = IFO[:, 2 * h:] * torch.tanh(C)
            outs.append(H)
        return torch.stack(outs), (H, C)
