"""What ``rnn-tui bench`` times: the textbook loop as d2l writes it, and rnn-tui's paths.

Each measurement trains a fresh model for a fixed number of minibatches at one workload's shape.
The textbook path is d2l's ``train_epoch_ch8`` body: one-hot inputs, the output layer applied
step by step, its clipping and SGD updater, and a host sync on every minibatch for the metric.
"""
from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch

from rnn_tui.engine.device import synchronize
from rnn_tui.engine.generation import generate_indices
from rnn_tui.engine.kernels import stepper_for
from rnn_tui.engine.models import build_model, detach_state
from rnn_tui.engine.samplers import seq_data_iter_sequential
from rnn_tui.engine.text import tokenize
from rnn_tui.engine.steps import train_minibatch
from rnn_tui.engine.vocab import Vocab
from rnn_tui.engine.bench.timing_process import RNN_TUI, TEXTBOOK


@dataclass
class Workload:
    name: str
    corpus: torch.Tensor
    vocab_size: int
    hidden: int
    batch_size: int = 32
    num_steps: int = 35


def make_workload(name: str, text: str, preprocess: str, max_tokens: int, hidden: int, device) -> Workload:
    tokens = tokenize(text, preprocess, "char")
    vocab = Vocab(tokens)
    tokens = tokens[:max_tokens] if max_tokens else tokens
    return Workload(name, torch.tensor(vocab[tokens], device=device), len(vocab), hidden)


class BenchPath(NamedTuple):
    model: str               # build_model's name
    scratch_path: str        # "textbook" or "fast"
    textbook_loop: bool      # d2l's loop body instead of ``train_minibatch``
    process: str             # the timing process it runs in (TEXTBOOK or RNN_TUI)
    autocast: str = "off"    # the config's ``autocast``: "bf16" for the concise models' bfloat16 forward


PATHS = {  # label -> what it times
    "textbook scratch-rnn": BenchPath("scratch-rnn", "textbook", True, TEXTBOOK),
    "textbook in rnn-tui": BenchPath("scratch-rnn", "textbook", True, RNN_TUI),
    "fast scratch-rnn": BenchPath("scratch-rnn", "fast", False, RNN_TUI),
    "nn.RNN": BenchPath("rnn", "fast", False, RNN_TUI),
    "nn.GRU": BenchPath("gru", "fast", False, RNN_TUI),
    "nn.LSTM": BenchPath("lstm", "fast", False, RNN_TUI),
    "nn.RNN bf16": BenchPath("rnn", "fast", False, RNN_TUI, "bf16"),
    "nn.GRU bf16": BenchPath("gru", "fast", False, RNN_TUI, "bf16"),
    "nn.LSTM bf16": BenchPath("lstm", "fast", False, RNN_TUI, "bf16"),
}


def textbook_minibatch(model, X: torch.Tensor, Y: torch.Tensor, state, params, lr: float = 1.0,
                       theta: float = 1.0):
    """One step of d2l's ``train_epoch_ch8`` body, as the book writes it (not as rnn-tui does).

    Mean cross-entropy, backward, its ``grad_clipping`` (a Python sum of per-tensor squared sums, a
    host-side ``norm > theta`` test, scaled in place), its ``sgd`` updater (lr on the mean loss,
    gradients zeroed, not freed) and its metric (``float`` of the loss: a host sync).
    """
    loss, state = model.loss(X, Y, state)
    loss.backward()
    with torch.no_grad():
        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in params))
        if norm > theta:
            for p in params:
                p.grad[:] *= theta / norm
        for p in params:
            p -= lr * p.grad
            p.grad.zero_()
    return float(loss.detach()), state  # its Accumulator's ``float``: a host sync per minibatch


def train_tokens_per_sec(work: Workload, label: str, batches: int, device, kernels: str = "auto",
                         seed: int = 0) -> tuple[float, list[float]]:
    """Tokens/s over ``batches`` minibatches (after one warm-up), and the per-minibatch losses."""
    path, device = PATHS[label], torch.device(device)
    torch.manual_seed(seed)
    model = build_model(path.model, work.vocab_size, work.hidden, path=path.scratch_path, kernels=kernels).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    data = seq_data_iter_sequential(work.corpus, work.batch_size, work.num_steps, random.Random(seed))
    params = list(model.parameters())
    losses: list = []
    state = None
    count = min(batches + 1, len(data))
    started = 0.0
    for i in range(count):
        if i == 1:  # the first minibatch warms allocators and kernels up; it is not timed
            synchronize(device)
            started = time.perf_counter()
        X, Y = data.X[i % len(data)], data.Y[i % len(data)]
        state = model.begin_state(work.batch_size, device) if state is None else detach_state(state)
        if path.textbook_loop:
            loss, state = textbook_minibatch(model, X, Y, state, params)
        else:
            loss, _, state = train_minibatch(model, optimizer, X, Y, state, params, 1.0, path.autocast)
        losses.append(loss)
    synchronize(device)
    elapsed = time.perf_counter() - started
    losses = [float(v) for v in losses]
    return (count - 1) * work.batch_size * work.num_steps / elapsed, losses


def textbook_predict(model, prefix: list[int], num_preds: int, device) -> list[int]:
    """d2l's ``predict_ch8``: one-hot per character, autograd on, a host sync per character."""
    state = model.begin_state(1, device)
    outputs = [prefix[0]]
    for token in prefix[1:]:
        _, state = model(torch.tensor([[outputs[-1]]], device=device), state)
        outputs.append(token)
    for _ in range(num_preds):
        y, state = model(torch.tensor([[outputs[-1]]], device=device), state)
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    return outputs


def generation_chars_per_sec(work: Workload, device, kernels: str = "auto", num_preds: int = 300,
                             repeats: int = 5) -> tuple[dict[str, float], str]:
    """Greedy characters per second, batch 1: the textbook predict loop and ours, alternating; medians.
    Also which code ran ours: the C stepper, the torch one, or the model's own forward."""
    device = torch.device(device)
    torch.manual_seed(0)
    textbook = build_model("scratch-rnn", work.vocab_size, work.hidden, path="textbook").to(device)
    fast = build_model("scratch-rnn", work.vocab_size, work.hidden, path="fast", kernels=kernels).to(device)
    fast.load_state_dict(textbook.state_dict())
    prefix = work.corpus[:10].tolist()
    runs = {"textbook predict": lambda: textbook_predict(textbook, prefix, num_preds, device),
            "fast generate": lambda: list(generate_indices(fast, prefix, num_preds, device=device))}
    speeds: dict[str, list[float]] = {label: [] for label in runs}
    for run in runs.values():
        run()  # warm-up
    for _ in range(repeats):
        for label, run in runs.items():
            started = time.perf_counter()
            run()
            synchronize(device)
            speeds[label].append(num_preds / (time.perf_counter() - started))
    stepper = stepper_for(fast, fast.begin_state(1, device))
    return ({label: statistics.median(values) for label, values in speeds.items()},
            "model forward" if stepper is None else stepper.name)
