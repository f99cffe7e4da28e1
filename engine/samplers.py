"""Minibatches of (X, Y) with d2l §8.3 semantics, built once per epoch on the model's device.

Both samplers return an ``EpochBatches``: ``X`` and ``Y`` of shape (num_batches, batch_size,
num_steps), where ``Y`` is ``X`` shifted one token to the right. Building the whole epoch's
index arithmetic up front keeps the host out of the training loop (no per-minibatch sync).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from rnn_tui.engine.config import SAMPLERS


@dataclass
class EpochBatches:
    X: torch.Tensor  # (num_batches, batch_size, num_steps) int64
    Y: torch.Tensor  # same shape, X shifted by one token
    # Sequential partitioning carries the hidden state from one minibatch to the next;
    # random sampling re-initialises it for every minibatch.
    carries_state: bool

    def __len__(self) -> int:
        return self.X.shape[0]

    def __iter__(self):
        return zip(self.X, self.Y)

    def rows(self, share: slice) -> "EpochBatches":
        """Every minibatch's rows ``share`` (one rank's part under data parallelism)."""
        return EpochBatches(self.X[:, share], self.Y[:, share], self.carries_state)


def min_tokens_for(batch_size: int, num_steps: int) -> int:
    """Fewest tokens that give both samplers at least one minibatch, whatever the offset."""
    return batch_size * num_steps + num_steps + 1


def seq_data_iter_random(corpus: torch.Tensor, batch_size: int, num_steps: int,
                         rng: random.Random) -> EpochBatches:
    """Random sampling: a random start offset, then shuffled non-overlapping subsequences."""
    offset = rng.randint(0, num_steps - 1)
    num_subseqs = (len(corpus) - offset - 1) // num_steps
    starts = list(range(offset, offset + num_subseqs * num_steps, num_steps))
    rng.shuffle(starts)
    num_batches = num_subseqs // batch_size
    starts_t = torch.tensor(starts[: num_batches * batch_size], dtype=torch.long, device=corpus.device)
    positions = starts_t.view(num_batches, batch_size, 1) + torch.arange(num_steps, device=corpus.device)
    return EpochBatches(corpus[positions], corpus[positions + 1], carries_state=False)


def seq_data_iter_sequential(corpus: torch.Tensor, batch_size: int, num_steps: int,
                             rng: random.Random) -> EpochBatches:
    """Sequential partitioning: ``batch_size`` parallel streams read left to right."""
    offset = rng.randint(0, num_steps)
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    Xs = corpus[offset: offset + num_tokens].view(batch_size, -1)
    Ys = corpus[offset + 1: offset + 1 + num_tokens].view(batch_size, -1)
    num_batches = Xs.shape[1] // num_steps
    used = num_batches * num_steps
    # (batch, num_batches, steps) -> (num_batches, batch, steps): minibatch i row r continues row r of i-1.
    X = Xs[:, :used].reshape(batch_size, num_batches, num_steps).transpose(0, 1)
    Y = Ys[:, :used].reshape(batch_size, num_batches, num_steps).transpose(0, 1)
    return EpochBatches(X, Y, carries_state=True)


def make_batches(sampler: str, corpus: torch.Tensor, batch_size: int, num_steps: int,
                 rng: random.Random) -> EpochBatches:
    if sampler == "random":
        return seq_data_iter_random(corpus, batch_size, num_steps, rng)
    if sampler == "sequential":
        return seq_data_iter_sequential(corpus, batch_size, num_steps, rng)
    raise ValueError(f"unknown sampler {sampler!r}; choose from {', '.join(SAMPLERS)}")


def split_train_val(corpus: torch.Tensor, val_fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hold out the tail of the token stream for validation (d2l has none; 0 keeps it so)."""
    num_val = int(len(corpus) * val_fraction)
    if num_val == 0:
        return corpus, corpus[:0]
    return corpus[:-num_val], corpus[-num_val:]
