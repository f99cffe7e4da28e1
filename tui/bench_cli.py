"""``rnn-tui bench``: the table (or JSON) of engine/bench.py's measurements."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click


def _find(filename: str) -> Path | None:
    from corpora.download import data_dir
    for folder in (data_dir(), Path(__file__).resolve().parents[2] / "shared" / "corpora"):
        if (folder / filename).is_file():
            return folder / filename
    return None


# ``rnn-tui train``, then its own peak RSS as the last line of stdout.
_MEASURE = """
from engine.bench import peak_rss_mib
from tui.cli import main
try:
    main()
except SystemExit:
    pass
print(peak_rss_mib())
"""


def _training_run_peak_rss_mib(timemachine: Path, device: str) -> float | None:
    """Peak RSS of ``rnn-tui train`` at d2l's configuration, in a process of its own."""
    import subprocess
    import sys
    import tempfile
    with tempfile.TemporaryDirectory(prefix="rnn-tui-bench-") as tmp:
        command = [sys.executable, "-c", _MEASURE, "train", "--corpus-file", str(timemachine), "--preprocess", "d2l",
                   "--max-tokens", "10000", "--epochs", "2", "--device", device, "--run-dir", f"{tmp}/run"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return float(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return None


def run_bench(quick: bool, repeats: int, device: str, as_json: bool) -> int:
    from .headless import InputError
    if repeats < 1:
        raise InputError("--repeats must be at least 1")

    from engine.bench import PATHS, make_workload, run_benchmark
    from engine.device import autocast_problem, resolve_device
    try:
        target = resolve_device(device)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    tm, tang = _find("timemachine.txt"), _find("tang_poems.txt")
    if tm is None:
        raise InputError("bench needs timemachine.txt: run `rnn-tui train --corpus timemachine --epochs 1` once "
                         "to download it, or set RNN_TUI_DATA to a folder holding it")
    workloads = [make_workload("d2l: timemachine, 10k tokens, hidden 512", tm.read_text(encoding="utf-8"), "d2l",
                               10_000, 512, target)]

    def runnable(names):  # bf16 rows only where this device has bfloat16 autocast
        return [label for label in names if autocast_problem(target, PATHS[label].autocast) is None]

    labels = {workloads[0].name: runnable(PATHS)}
    if tang is not None:
        big = make_workload("large vocab: tang poems, raw, hidden 256", tang.read_text(encoding="utf-8"), "raw",
                            200_000, 256, target)
        workloads.append(big)
        labels[big.name] = runnable(["textbook scratch-rnn", "textbook in rnn-tui", "fast scratch-rnn", "nn.RNN",
                                     "nn.RNN bf16"])
    batches = 3 if quick else 20
    repeats = 1 if quick else repeats
    report = (lambda text: None) if as_json else (lambda text: click.echo(f"  {text}", err=True))
    results = run_benchmark(workloads, labels, repeats, batches, target, report)
    results["torch_threads_env"] = os.environ.get("OMP_NUM_THREADS")
    results["d2l_training_run_peak_rss_mib"] = _training_run_peak_rss_mib(tm, device)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return 0
    click.echo(f"\nrnn-tui bench on {results['device']}, torch {results['torch']}, {results['threads']} threads; "
               f"median of {repeats} alternating runs of {batches} minibatches")
    click.echo("textbook scratch-rnn: the seeds' loop, timed in a process as the seeds run (the × baseline)\n"
               "textbook in rnn-tui:  the same loop, timed in a process as rnn-tui trains, like every other path")
    for work in results["workloads"]:
        click.echo(f"\n{work['name']} (vocab {work['vocab_size']}, batch {work['batch_size']}, "
                   f"steps {work['num_steps']})")
        click.echo(f"  {'path':<22}{'tokens/s':>12}{'× textbook':>12}{'GFLOP/s':>10}")
        for label, speed in work["tokens_per_sec"].items():
            gflops = work["achieved_gflops_scratch"].get(label)
            click.echo(f"  {label:<22}{speed:>12,.0f}{work['ratio_to_textbook'].get(label, 0):>12.2f}"
                       f"{'' if gflops is None else f'{gflops:.1f}':>10}")
        click.echo(f"  fast scratch-rnn's recurrence steps: {work['fast_recurrence']}")
        for name, value in work["matmul_gflops"].items():
            click.echo(f"  matmul roofline {name}: {value:.1f} GFLOP/s")
        gen = work["generation_chars_per_sec"]
        ratio = gen["fast generate"] / gen["textbook predict"]
        click.echo(f"  generation (greedy, batch 1): textbook {gen['textbook predict']:,.0f} chars/s, ours "
                   f"({work['generation_stepper']}) {gen['fast generate']:,.0f} chars/s ({ratio:.1f}×)")
        for label, difference in work["max_loss_difference_bf16_vs_float32"].items():
            click.echo(f"  {label} bf16 vs float32, same minibatches: max loss difference {difference:.2e}")
        if work["max_loss_difference_textbook_vs_fast"] is not None:
            click.echo(f"  textbook vs fast, same minibatches: max loss difference "
                       f"{work['max_loss_difference_textbook_vs_fast']:.2e}")
    run_peak = results["d2l_training_run_peak_rss_mib"]
    click.echo(f"\npeak RSS of a d2l-configuration training run (2 epochs, its own process): "
               f"{'not measured' if run_peak is None else f'{run_peak:.0f} MiB'}; "
               f"of the benchmark's largest process (the timing children included): {results['peak_rss_mib']:.0f} MiB")
    return 0


def run_dashboard_bench(quick: bool, repeats: int, as_json: bool) -> int:
    from .bench_dashboard import BenchError, format_dashboard_bench, measure_dashboard
    from .headless import InputError
    if repeats < 1:
        raise InputError("--repeats must be at least 1")
    try:
        result = measure_dashboard(repeats=1 if quick else repeats, epochs=3 if quick else 4,
                                   presses=5 if quick else 20)
    except BenchError as exc:
        raise InputError(str(exc)) from None
    click.echo(json.dumps(result, indent=2) if as_json else format_dashboard_bench(result))
    return 0
