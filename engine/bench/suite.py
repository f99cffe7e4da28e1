"""``rnn-tui bench``: every path at two workloads, alternating, with rooflines and memory.

Paths alternate (A, B, C, A, B, C, ...) so a machine that drifts (thermal, a neighbour) biases no
ratio, and medians are reported. The textbook loop is timed twice: in a process as d2l's notebook
runs (the baseline of every ratio) and in a process as rnn-tui trains, where every other path runs
too (``timing_process.py``): the second shows how much of a gain is the loop's own.
"""
from __future__ import annotations

import statistics
import subprocess
import tempfile

import torch

from rnn_tui.corpora import load_corpus
from rnn_tui.engine import kernels as kernel_choice
from rnn_tui.engine.cpu import describe_cpu
from rnn_tui.engine.device import autocast_problem
from rnn_tui.engine.launch import python_command
from rnn_tui.engine.models import build_model
from rnn_tui.engine.bench.paths import PATHS, Workload, generation_chars_per_sec, make_workload, train_tokens_per_sec
from rnn_tui.engine.bench.roofline import c_recurrence_gflops, flops_per_token, matmul_gflops, packed_matmul_gflops, peak_rss_mib
from rnn_tui.engine.bench.timing_process import TimingProcess

D2L = "d2l: timemachine, 10k tokens, hidden 512"
TANG = "large vocab: tang poems, raw, hidden 256"
TANG_PATHS = ["textbook scratch-rnn", "textbook in rnn-tui", "fast scratch-rnn", "nn.RNN", "nn.RNN bf16"]


def standard_workloads(device) -> tuple[list[Workload], list[str]]:
    """d2l's shape on The Time Machine, and a large vocabulary on the Tang poems where a copy is at hand.

    The corpora are found as training finds them (``RNN_TUI_DATA``, the cache; The Time Machine is
    downloaded once). Also a note for each workload left out."""
    workloads = [make_workload(D2L, load_corpus("timemachine").text, "d2l", 10_000, 512, device)]
    try:
        workloads.append(make_workload(TANG, load_corpus("tang-poems").text, "raw", 200_000, 256, device))
        return workloads, []
    except ValueError as exc:  # CorpusError: no local copy
        return workloads, [f"{TANG}: left out ({exc})"]


def paths_for(work: Workload, device) -> tuple[list[str], dict[str, str]]:
    """The paths timed at a workload (all at d2l's shape, the scratch RNN and nn.RNN at the Tang shape),
    and those left out with the reason: a bf16 row where the device cannot train that cell in bfloat16."""
    labels = list(PATHS) if work.name != TANG else TANG_PATHS
    skipped = {label: problem for label in labels
               if (problem := autocast_problem(torch.device(device), PATHS[label].autocast, PATHS[label].model))}
    return [label for label in labels if label not in skipped], skipped


def run_benchmark(workloads: list[Workload], repeats: int, batches: int, device, kernels: str = "auto",
                  report=lambda text: None) -> dict:
    processes = {kind: TimingProcess(kind) for kind in sorted({path.process for path in PATHS.values()})}
    try:
        results = {"device": str(device), "cpu": describe_cpu(), "threads": torch.get_num_threads(),
                   "torch": torch.__version__, "kernels": kernels,
                   "workloads": [_bench_workload(work, repeats, batches, device, kernels, report, processes)
                                 for work in workloads]}
        results["peak_rss_mib"] = max([peak_rss_mib()] + [p.call(peak_rss_mib) for p in processes.values()])
    except BaseException:  # ctrl+c or an error: nothing of theirs is wanted any more
        for process in processes.values():
            process.kill()
        raise
    for process in processes.values():
        process.close()
    return results


def _bench_workload(work: Workload, repeats: int, batches: int, device, kernels: str, report, processes) -> dict:
    labels, skipped = paths_for(work, device)
    samples: dict[str, list[float]] = {label: [] for label in labels}
    losses: dict[str, list[float]] = {}
    for r in range(repeats):
        for label in labels:  # alternate paths within each repeat
            timer = processes[PATHS[label].process]
            speed, run_losses = timer.call(train_tokens_per_sec, work, label, batches, device, kernels)
            samples[label].append(speed)
            losses.setdefault(label, run_losses)
            report(f"{work.name}: {label} run {r + 1}/{repeats}: {speed:,.0f} tokens/s")
    medians = {label: statistics.median(v) for label, v in samples.items()}
    base = medians.get("textbook scratch-rnn")
    # the output layer in the layout the fast path computes it: logitsᵀ = W_hqᵀ·Hᵀ
    rooflines = {"recurrence (B×h)·(h×h)": matmul_gflops(work.batch_size, work.hidden, work.hidden, device),
                 "output (V×h)·(h×TB)": matmul_gflops(work.vocab_size, work.hidden,
                                                      work.batch_size * work.num_steps, device),
                 "recurrence, weight packed (oneDNN)": packed_matmul_gflops(work.batch_size, work.hidden,
                                                                             work.hidden, device),
                 "recurrence steps in C, forward + backward": c_recurrence_gflops(work, device)}
    fast = build_model("scratch-rnn", work.vocab_size, work.hidden, kernels=kernels).to(device)
    generation_speeds, generation_stepper = generation_chars_per_sec(work, device, kernels)
    return {
        "name": work.name, "vocab_size": work.vocab_size, "hidden": work.hidden, "batch_size": work.batch_size,
        "num_steps": work.num_steps, "tokens": len(work.corpus), "minibatches_timed": batches,
        "tokens_per_sec": medians, "all_runs": samples, "skipped": skipped,
        "ratio_to_textbook": {k: v / base for k, v in medians.items()} if base else {},
        "achieved_gflops_scratch": {k: medians[k] * flops_per_token(work) / 1e9 for k in medians if "scratch" in k},
        "matmul_gflops": {name: value for name, value in rooflines.items() if value is not None},
        "fast_recurrence": kernel_choice.describe(fast, work.batch_size)["recurrence"],
        "max_loss_difference_textbook_vs_fast": _max_difference(losses, "textbook scratch-rnn", "fast scratch-rnn"),
        # the same loop in both processes: the allocator must not change a result
        "max_loss_difference_textbook_processes": _max_difference(losses, "textbook scratch-rnn",
                                                                  "textbook in rnn-tui"),
        # what bfloat16 costs in accuracy: the same minibatches, the same initial weights
        "max_loss_difference_bf16_vs_float32": {
            float32: _max_difference(losses, float32, label) for label in losses
            if PATHS[label].autocast == "bf16" and (float32 := label.removesuffix(" bf16")) in losses},
        "generation_chars_per_sec": generation_speeds,
        "generation_stepper": generation_stepper,
    }


def _max_difference(losses: dict[str, list[float]], first: str, second: str) -> float | None:
    if first not in losses or second not in losses:
        return None
    return max(abs(a - b) for a, b in zip(losses[first], losses[second]))


# ``rnn-tui train ARGS``, then the process's own peak RSS as the last line of stdout
_TRAIN_THEN_PEAK_RSS = """
from rnn_tui.engine.bench.roofline import peak_rss_mib
from rnn_tui.tui.cli import main
try:
    main()
except SystemExit:
    pass
print(peak_rss_mib())
"""


def training_run_peak_rss_mib(device: str, kernels: str = "auto") -> float | None:
    """Peak RSS of ``rnn-tui train`` at d2l's configuration (2 epochs), in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="rnn-tui-bench-") as tmp:
        command = python_command(_TRAIN_THEN_PEAK_RSS, "train", "--corpus", "timemachine", "--epochs", "2",
                                 "--device", device, "--kernels", kernels, "--run-dir", f"{tmp}/run")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None
