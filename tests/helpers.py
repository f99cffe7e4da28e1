"""Small shared helpers for tests (tiny configs, event collection)."""
import random

import torch

from engine.config import TrainConfig

ALPHABET = "abcdefgh"


def pattern_text(n=6000, seed=0) -> str:
    """Text with strong structure: a short repeating motif with a little noise."""
    rng = random.Random(seed)
    motif = "the cat sat on the mat. "
    return "".join(ch if rng.random() > 0.02 else rng.choice(ALPHABET) for ch in (motif * (n // len(motif) + 1))[:n])


def tiny_config(**overrides) -> TrainConfig:
    values = dict(preprocess="raw", max_tokens=0, hidden=32, batch_size=8, num_steps=10, epochs=3, lr=1.0,
                  device="cpu", sample_every=0, prefix="the ", val_fraction=0.1)
    values.update(overrides)
    return TrainConfig(**values)


def run_events(trainer):
    return [e.to_dict() for e in trainer.run()]


def assert_close_float32(got, want):
    """Equal up to float32 rounding of sums of ~hidden terms, at the scale of the values (ReLU grows)."""
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-7 * got.shape[-1] ** 0.5 * max(1.0, want.abs().max()))
