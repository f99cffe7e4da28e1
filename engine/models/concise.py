"""The concise models of d2l §8.6: ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM`` with a Linear head."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from rnn_tui.engine.config import INPUT_KINDS as INPUTS
from rnn_tui.engine.kernels import linear_cross_entropy

_LAYERS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


class RNNModel(nn.Module):
    """``forward(X: (B, T) int64, state) -> (logits: (T·B, V), state)``, like the scratch models."""

    def __init__(self, vocab_size: int, num_hiddens: int, cell: str = "rnn", num_layers: int = 1,
                 dropout: float = 0.0, input_kind: str = "onehot", embedding_dim: int = 0):
        super().__init__()
        if input_kind not in INPUTS:
            raise ValueError(f"unknown input {input_kind!r}")
        self.vocab_size, self.num_hiddens, self.cell = vocab_size, num_hiddens, cell
        self.num_layers, self.input_kind = num_layers, input_kind
        if input_kind == "embedding":
            input_size = embedding_dim or num_hiddens  # 0: as wide as the hidden state
            self.embedding = nn.Embedding(vocab_size, input_size)
        else:
            input_size = vocab_size
        # nn.RNN warns when dropout is set on a single layer, where it would do nothing.
        self.rnn = _LAYERS[cell](input_size, num_hiddens, num_layers,
                                 dropout=dropout if num_layers > 1 else 0.0)
        self.input_dropout = nn.Dropout(dropout)  # on learned embeddings only: a one-hot input is no feature map
        self.output_dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(num_hiddens, vocab_size)

    def begin_state(self, batch_size: int, device=None):
        device = device or self.linear.weight.device
        H = torch.zeros(self.num_layers, batch_size, self.num_hiddens, device=device,
                        dtype=self.linear.weight.dtype)
        return (H, torch.zeros_like(H)) if self.cell == "lstm" else (H,)

    def hidden_states(self, X: torch.Tensor, state):
        """X: (B, T) int64 -> (top-layer outputs after dropout: (T·B, h), state)."""
        if self.input_kind == "embedding":
            inputs = self.input_dropout(self.embedding(X.T))  # (T, B, h)
        else:
            inputs = F.one_hot(X.T, self.vocab_size).to(self.linear.weight.dtype)  # (T, B, V)
        hx = state if self.cell == "lstm" else state[0]
        Y, new_state = self.rnn(inputs, hx)
        return self.output_dropout(Y.reshape(-1, Y.shape[-1])), (new_state if self.cell == "lstm" else (new_state,))

    def forward(self, X: torch.Tensor, state):
        Hs, state = self.hidden_states(X, state)
        return self.linear(Hs), state

    def loss(self, X: torch.Tensor, Y: torch.Tensor, state):
        """Mean cross-entropy of predicting Y (B, T) from X (B, T) -> (loss, state)."""
        Hs, state = self.hidden_states(X, state)
        if torch.is_autocast_enabled(X.device.type):
            # the fused head is float32 arithmetic of its own; under autocast the output layer is the
            # usual Linear (a bfloat16 product) and the cross-entropy float32, as in any AMP recipe
            return F.cross_entropy(self.linear(Hs).float(), Y.T.reshape(-1)), state
        return linear_cross_entropy(Hs, self.linear.weight.t(), self.linear.bias, Y.T.reshape(-1)), state
