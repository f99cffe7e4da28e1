"""Generating text from a trained model (d2l's ``predict_ch8``, generalised).

Warm up the state on the prefix, then emit tokens greedily (temperature 0, as the book) or by
sampling with temperature and top-k from a dedicated ``torch.Generator``, so sampling never moves
the training RNG. Tokens are yielded as they are produced; characters outside the vocabulary in
the prefix map to ``<unk>`` instead of raising ``KeyError`` as every seed does.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch

from rnn_tui.engine.kernels import stepper_for
from rnn_tui.engine.text import detokenize, tokenize_prefix
from rnn_tui.engine.vocab import Vocab


CHUNK = 16  # tokens computed per resumption of the generator: one host sync (and one mode switch) each


def generate_indices(model, prefix_indices: list[int], num_preds: int, temperature: float = 0.0,
                     top_k: int = 0, generator: torch.Generator | None = None,
                     device: torch.device | None = None) -> Iterator[int]:
    """Yield ``num_preds`` token indices following ``prefix_indices`` (which must be non-empty)."""
    if not prefix_indices:
        raise ValueError("the prefix must hold at least one token")
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        # inference mode is entered per chunk, not around the generator: a decorated generator
        # enters and leaves it at every token, which costs as much as the token itself
        with torch.inference_mode():
            state = model.begin_state(1, device)
            stepper = stepper_for(model, state)
            if len(prefix_indices) > 1:
                warmup = torch.tensor(prefix_indices[:-1], device=device)  # (n-1,)
                if stepper is not None:
                    stepper.feed(warmup)  # half the time of the model's forward on a 10-character prompt
                else:
                    _, state = model(warmup.view(1, -1), state)
            current = torch.tensor([prefix_indices[-1]], device=device)  # (1,)
        remaining = num_preds
        while remaining > 0:
            count = min(CHUNK, remaining)
            with torch.inference_mode():
                if stepper is not None and temperature <= 0:
                    chosen = stepper.greedy(current, count)
                else:
                    chosen, state = _sample_chunk(model, stepper, current, state, count, temperature, top_k, generator)
                current = chosen[-1:]
                chunk = chosen.tolist()
            remaining -= count
            yield from chunk
    finally:
        model.train(was_training)


def _sample_chunk(model, stepper, current: torch.Tensor, state, count: int, temperature: float, top_k: int,
                  generator: torch.Generator | None):
    """``count`` tokens one step at a time (the general path: any model, any temperature)."""
    produced = []
    for _ in range(count):
        if stepper is None:
            logits, state = model(current.view(1, 1), state)  # (1, V)
        else:
            logits = stepper.logits(current)
        current = _choose(logits, temperature, top_k, generator).view(1)
        produced.append(current)
    return torch.cat(produced), state


class NotANumber(ValueError):
    """The model's outputs are NaN or infinite: there is no distribution to sample from."""


def _choose(logits: torch.Tensor, temperature: float, top_k: int,
            generator: torch.Generator | None) -> torch.Tensor:
    if not torch.isfinite(logits).all():
        raise NotANumber("the model's outputs are not numbers (NaN or infinite weights): there is no text to sample")
    if temperature <= 0:
        return logits.argmax(dim=-1)
    # the largest logit taken off first, and float64 (a float32 scalar rounds 1e-300 to 0): at any temperature,
    # however near 0, the division cannot overflow, and as it nears 0 the choice becomes the greedy one
    logits = (logits.double() - logits.max(dim=-1, keepdim=True).values.double()) / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).view(-1)


def generate_text(model, vocab: Vocab, prefix: str, num_preds: int, preprocess: str = "raw",
                  tokens: str = "char", temperature: float = 0.0, top_k: int = 0, seed: int | None = None,
                  device: torch.device | None = None) -> Iterator[str]:
    """Yield the prefix, then each generated token as text (``<unk>`` as a visible placeholder)."""
    device = device or next(model.parameters()).device
    prefix_tokens = tokenize_prefix(prefix, preprocess, tokens)
    if not prefix_tokens:
        raise ValueError(f"the prefix {prefix!r} holds no token after {preprocess} preprocessing")
    generator = None
    if temperature > 0:
        generator = torch.Generator(device=device)
        generator.manual_seed(0 if seed is None else seed)
    yield detokenize(prefix_tokens, tokens)
    previous = prefix_tokens[-1]
    for index in generate_indices(model, vocab[prefix_tokens], num_preds, temperature, top_k, generator, device):
        token = vocab.display(index)
        yield token if tokens == "char" else _joined(previous, token)
        previous = token


def _joined(previous: str, token: str) -> str:
    return token if token == "\n" or previous == "\n" else " " + token


def predict(model, vocab: Vocab, prefix: str, num_preds: int, **options) -> str:
    """The whole generation as one string, like d2l's ``predict_ch8``."""
    return "".join(generate_text(model, vocab, prefix, num_preds, **options))
