"""Benchmarks: the seeds' training loop against ours, on the same machine.

Each measurement trains a fresh model for a fixed number of minibatches. Paths alternate
(A, B, C, A, B, C, ...) so a machine that drifts (thermal, a neighbour) biases no ratio, and
medians are reported. The textbook path is the seeds' loop: one-hot inputs, per-step output
layer, the seeds' clipping and SGD updater, and a host sync on every minibatch for the metric.
It is timed twice: in a process as the seeds run (glibc's malloc as it comes; the baseline of
every ratio) and in a process as rnn-tui trains, which is where every other path runs
(``timing_process.py``): the second shows how much of the gain is the loop's own.
"""
from __future__ import annotations

import random
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .device import synchronize
from .generation import generate_indices
from .models import build_model, detach_state, native_recurrence, onednn
from .models.recurrence import recurrence_name
from .models.stepper import stepper_for
from .samplers import seq_data_iter_sequential
from .text import tokenize
from .timing_process import RNN_TUI, SEEDS, TimingProcess
from .trainer import train_minibatch
from .vocab import Vocab


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
    model: str         # build_model's name
    scratch_path: str  # "textbook" or "fast"
    seeds_loop: bool   # the seeds' loop body instead of ``train_minibatch``
    process: str       # the timing process it runs in (``timing_process.py``)
    autocast: str = "off"  # the config's ``autocast``: "bf16" for the concise models' bfloat16 forward


PATHS = {  # label -> what it times
    "textbook scratch-rnn": BenchPath("scratch-rnn", "textbook", True, SEEDS),
    "textbook in rnn-tui": BenchPath("scratch-rnn", "textbook", True, RNN_TUI),
    "fast scratch-rnn": BenchPath("scratch-rnn", "fast", False, RNN_TUI),
    "nn.RNN": BenchPath("rnn", "fast", False, RNN_TUI),
    "nn.GRU": BenchPath("gru", "fast", False, RNN_TUI),
    "nn.LSTM": BenchPath("lstm", "fast", False, RNN_TUI),
    "nn.RNN bf16": BenchPath("rnn", "fast", False, RNN_TUI, "bf16"),
    "nn.GRU bf16": BenchPath("gru", "fast", False, RNN_TUI, "bf16"),
    "nn.LSTM bf16": BenchPath("lstm", "fast", False, RNN_TUI, "bf16"),
}


def seeds_minibatch(model, X: torch.Tensor, Y: torch.Tensor, state, params, lr: float = 1.0, theta: float = 1.0):
    """One step of the seeds' ``train_epoch_ch8`` body, as they write it (not as we do).

    Mean cross-entropy, backward, their ``grad_clipping`` (a Python sum of per-tensor squared
    sums, a host-side ``norm > theta`` test, scaled in place), their ``sgd`` updater (lr on the
    mean loss, gradients zeroed, not freed) and their metric (``float`` of the loss: a host sync).
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
    return float(loss.detach()), state  # their Accumulator's ``float``: a host sync per minibatch


def train_tokens_per_sec(work: Workload, label: str, batches: int, device, seed: int = 0) -> tuple[float, list[float]]:
    """Tokens/s over ``batches`` minibatches (after one warm-up), and the per-minibatch losses."""
    path = PATHS[label]
    torch.manual_seed(seed)
    model = build_model(path.model, work.vocab_size, work.hidden, path=path.scratch_path).to(device)
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
        if path.seeds_loop:
            loss, state = seeds_minibatch(model, X, Y, state, params)
        else:
            loss, _, state = train_minibatch(model, optimizer, X, Y, state, params, 1.0, path.autocast)
        losses.append(loss)
    synchronize(device)
    elapsed = time.perf_counter() - started
    losses = [float(v) for v in losses]
    return (count - 1) * work.batch_size * work.num_steps / elapsed, losses


def textbook_predict(model, prefix: list[int], num_preds: int, device) -> list[int]:
    """The seeds' ``predict_ch8``: one-hot per character, autograd on, a host sync per character."""
    state = model.begin_state(1, device)
    outputs = [prefix[0]]
    for token in prefix[1:]:
        _, state = model(torch.tensor([[outputs[-1]]], device=device), state)
        outputs.append(token)
    for _ in range(num_preds):
        y, state = model(torch.tensor([[outputs[-1]]], device=device), state)
        outputs.append(int(y.argmax(dim=1).reshape(1)))
    return outputs


def generation_chars_per_sec(work: Workload, device, num_preds: int = 300,
                             repeats: int = 5) -> tuple[dict[str, float], str]:
    """Greedy characters per second, batch 1: the seeds' predict loop and ours, alternating; medians.
    Also which code ran ours: the C stepper, the torch one, or the model's own forward."""
    torch.manual_seed(0)
    textbook = build_model("scratch-rnn", work.vocab_size, work.hidden, path="textbook").to(device)
    fast = build_model("scratch-rnn", work.vocab_size, work.hidden, path="fast").to(device)
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


def _gflops(product, m: int, k: int, n: int, device, repeats: int) -> float:
    """GFLOP/s of ``product()``, an (m×k)·(k×n) product, after a warm-up."""
    for _ in range(3):
        product()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(repeats):
        product()
    synchronize(device)
    return 2 * m * k * n * repeats / (time.perf_counter() - started) / 1e9


def matmul_gflops(m: int, k: int, n: int, device, repeats: int = 20) -> float:
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    return _gflops(lambda: a @ b, m, k, n, device, repeats)


def packed_matmul_gflops(m: int, k: int, n: int, device, repeats: int = 20) -> float | None:
    """The same product with the weight packed once (oneDNN), as the fast CPU recurrence runs it; None if absent."""
    a, b = torch.randn(m, k, device=device), torch.randn(k, n, device=device)
    if not onednn.pays(b, m):
        return None
    product = onednn.packed_product(b, m)
    return _gflops(lambda: product(a), m, k, n, device, repeats)


def c_recurrence_gflops(work: Workload, device, repeats: int = 5) -> float | None:
    """The C recurrence's steps, forward then backward, at the workload's shape; None where it does not run."""
    T, B, h = work.num_steps, work.batch_size, work.hidden
    W = torch.randn(h, h, device=device) * h ** -0.5
    if not native_recurrence.pays(W):
        return None
    states, grad, slope = torch.randn(T + 1, B, h), torch.randn(T, B, h), torch.rand(T, B, h)

    def steps():
        native_recurrence.forward_steps(states, W, relu=False)
        native_recurrence.backward_steps(grad, slope, W)
    return _gflops(steps, B * (2 * T - 1), h, h, device, repeats)


def flops_per_token(work: Workload) -> float:
    """Useful matmul work of the scratch RNN per token, forward + backward (3× forward)."""
    h, v = work.hidden, work.vocab_size
    return 3 * 2 * (h * h + h * v)  # recurrence and output layer; the input (a row gather) counts as none


def peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM where Linux has it, since ru_maxrss carries over the pages of
    the parent a process was forked from; ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_benchmark(workloads: list[Workload], labels_for: dict[str, list[str]], repeats: int, batches: int,
                  device, report=lambda text: None) -> dict:
    kinds = {PATHS[label].process for labels in labels_for.values() for label in labels}
    processes = {kind: TimingProcess(kind) for kind in sorted(kinds)}
    try:
        results = _run_benchmark(workloads, labels_for, repeats, batches, device, report, processes)
        results["peak_rss_mib"] = max([peak_rss_mib()] + [p.peak_rss_mib() for p in processes.values()])
    except BaseException:  # ctrl+c or an error: nothing of theirs is wanted any more
        for process in processes.values():
            process.kill()
        raise
    for process in processes.values():
        process.close()
    return results


def _run_benchmark(workloads, labels_for, repeats, batches, device, report, processes) -> dict:
    results: dict = {"device": str(device), "threads": torch.get_num_threads(), "torch": torch.__version__,
                     "workloads": []}
    for work in workloads:
        labels = labels_for[work.name]
        samples: dict[str, list[float]] = {label: [] for label in labels}
        losses: dict[str, list[float]] = {}
        for r in range(repeats):
            for label in labels:  # alternate paths within each repeat
                timer = processes[PATHS[label].process]
                speed, run_losses = timer.train_tokens_per_sec(work, label, batches, device)
                samples[label].append(speed)
                losses.setdefault(label, run_losses)
                report(f"{work.name}: {label} run {r + 1}/{repeats}: {speed:,.0f} tokens/s")
        medians = {label: statistics.median(v) for label, v in samples.items()}
        base = medians.get("textbook scratch-rnn")
        gemm = matmul_gflops(work.batch_size, work.hidden, work.hidden, device)
        # the output layer in the layout the fast path computes it: logitsᵀ = W_hqᵀ·Hᵀ
        gemm_out = matmul_gflops(work.vocab_size, work.hidden, work.batch_size * work.num_steps, device)
        packed = packed_matmul_gflops(work.batch_size, work.hidden, work.hidden, device)
        in_c = c_recurrence_gflops(work, device)
        agree = _max_difference(losses, "textbook scratch-rnn", "fast scratch-rnn")
        generation_speeds, generation_stepper = generation_chars_per_sec(work, device)
        results["workloads"].append({
            "name": work.name, "vocab_size": work.vocab_size, "hidden": work.hidden, "batch_size": work.batch_size,
            "num_steps": work.num_steps, "tokens": len(work.corpus), "minibatches_timed": batches,
            "tokens_per_sec": medians, "all_runs": samples,
            "ratio_to_textbook": {k: v / base for k, v in medians.items()} if base else {},
            "achieved_gflops_scratch": {k: medians[k] * flops_per_token(work) / 1e9 for k in medians
                                        if "scratch" in k},
            "matmul_gflops": {"recurrence (B×h)·(h×h)": gemm, "output (V×h)·(h×TB)": gemm_out,
                              **({"recurrence, weight packed (oneDNN)": packed} if packed else {}),
                              **({"recurrence steps in C, forward + backward": in_c} if in_c else {})},
            "fast_recurrence": recurrence_name(torch.empty(work.vocab_size, work.hidden, device=device),
                                               torch.empty(work.hidden, work.hidden, device=device),
                                               work.batch_size),
            "max_loss_difference_textbook_vs_fast": agree,
            # the same loop in both processes: the allocator must not change a result
            "max_loss_difference_textbook_processes": _max_difference(losses, "textbook scratch-rnn",
                                                                      "textbook in rnn-tui"),
            # what bfloat16 costs in accuracy: the same minibatches, the same initial weights
            "max_loss_difference_bf16_vs_float32": {
                float32: _max_difference(losses, float32, label) for label in losses
                if PATHS[label].autocast == "bf16" and (float32 := label.removesuffix(" bf16")) in losses},
            "generation_chars_per_sec": generation_speeds,
            "generation_stepper": generation_stepper,
        })
    return results


def _max_difference(losses: dict[str, list[float]], first: str, second: str) -> float | None:
    if first not in losses or second not in losses:
        return None
    return max(abs(a - b) for a, b in zip(losses[first], losses[second]))
