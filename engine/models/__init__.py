"""d2l's models: RNN, GRU and LSTM from scratch (§8.5, §9.1, §9.2) and the concise ``nn`` ones (§8.6).

Their fast paths' kernels are in ``engine/kernels``; the models name the computation only.
"""
from __future__ import annotations

from rnn_tui.engine.config import MODEL_NAMES
from rnn_tui.engine.models.concise import INPUTS, RNNModel
from rnn_tui.engine.models.scratch import ACTIVATIONS, PATHS, RNNModelScratch


def build_model(name: str, vocab_size: int, num_hiddens: int, num_layers: int = 1,
                dropout: float = 0.0, path: str = "fast", activation: str = "tanh",
                input_kind: str = "onehot", kernels: str = "auto", embedding_dim: int = 0):
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    if name.startswith("scratch-"):
        # The scratch models are the book's single-layer cells; layers and dropout are concise-only.
        return RNNModelScratch(vocab_size, num_hiddens, name.removeprefix("scratch-"), path, activation, kernels)
    return RNNModel(vocab_size, num_hiddens, name, num_layers, dropout, input_kind, embedding_dim)


def model_for(config, vocab_size: int):
    """The model a ``TrainConfig`` describes, for a vocabulary of ``vocab_size`` tokens."""
    return build_model(config.model, vocab_size, config.hidden, config.layers, config.dropout, config.path,
                       config.activation, config.input, config.kernels, config.embedding_dim)


def detach_state(state):
    return tuple(s.detach() for s in state)


__all__ = ["ACTIVATIONS", "INPUTS", "MODEL_NAMES", "PATHS", "RNNModel", "RNNModelScratch",
           "build_model", "detach_state", "model_for"]
