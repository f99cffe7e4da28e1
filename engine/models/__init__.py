"""Model zoo: scratch RNN/GRU/LSTM (two equivalent paths) and the concise ``nn`` models."""
from __future__ import annotations

from ..config import MODEL_NAMES
from .concise import INPUTS, RNNModel
from .scratch import ACTIVATIONS, PATHS, RNNModelScratch


def build_model(name: str, vocab_size: int, num_hiddens: int, num_layers: int = 1,
                dropout: float = 0.0, path: str = "fast", activation: str = "tanh",
                input_kind: str = "onehot"):
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    if name.startswith("scratch-"):
        # The scratch models are the book's single-layer cells; layers and dropout are concise-only.
        return RNNModelScratch(vocab_size, num_hiddens, name.removeprefix("scratch-"), path, activation)
    return RNNModel(vocab_size, num_hiddens, name, num_layers, dropout, input_kind)


def detach_state(state):
    return tuple(s.detach() for s in state)


__all__ = ["ACTIVATIONS", "INPUTS", "MODEL_NAMES", "PATHS", "RNNModel", "RNNModelScratch",
           "build_model", "detach_state"]
