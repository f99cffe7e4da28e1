"""``rnn-tui bench``: runs ``engine/bench`` and prints its results as a table (or JSON)."""
from __future__ import annotations

import json
import os

import click

from rnn_tui.tui.formatting import format_number, text_table
from rnn_tui.tui.cli.errors import InputError


def run_bench(quick: bool, repeats: int, device: str, kernels: str, as_json: bool) -> int:
    if repeats < 1:
        raise InputError("--repeats must be at least 1")
    from rnn_tui.engine.bench.suite import run_benchmark, standard_workloads, training_run_peak_rss_mib
    from rnn_tui.engine.device import resolve_device
    from rnn_tui.engine.kernels import problem as kernels_problem
    try:
        target = resolve_device(device)
        problem = kernels_problem(kernels, target)
        if problem:
            raise InputError(problem)
        workloads, notes = standard_workloads(target)
    except ValueError as exc:  # an unknown device, a corpus that cannot be had
        raise InputError(f"bench: {exc}") from None
    batches = 3 if quick else 20
    repeats = 1 if quick else repeats
    report = (lambda text: None) if as_json else (lambda text: click.echo(f"  {text}", err=True))
    for note in notes:
        click.echo(f"note: {note}", err=True)
    results = run_benchmark(workloads, repeats, batches, target, kernels, report)
    results["torch_threads_env"] = os.environ.get("OMP_NUM_THREADS")
    results["d2l_training_run_peak_rss_mib"] = training_run_peak_rss_mib(device, kernels)
    click.echo(json.dumps(results, indent=2) if as_json else format_bench(results, repeats, batches))
    return 0


def format_bench(results: dict, repeats: int, batches: int) -> str:
    lines = [f"\nrnn-tui bench on {results['device']}: {results['cpu']}",
             f"torch {results['torch']}, {results['threads']} threads, --kernels {results['kernels']}; "
             f"median of {repeats} alternating runs of {batches} minibatches",
             "textbook scratch-rnn: d2l's loop, timed in a process as d2l's notebook runs (the × baseline)\n"
             "textbook in rnn-tui:  the same loop, timed in a process as rnn-tui trains, like every other path"]
    for work in results["workloads"]:
        lines.append(f"\n{work['name']} (vocab {work['vocab_size']}, batch {work['batch_size']}, "
                     f"steps {work['num_steps']})")
        rows = [[label, f"{speed:,.0f}", f"{work['ratio_to_textbook'].get(label, 0):.2f}",
                 format_number(work["achieved_gflops_scratch"].get(label), ".1f")]
                for label, speed in work["tokens_per_sec"].items()]
        table = text_table(["path", "tokens/s", "× textbook", "GFLOP/s"], rows, right={1, 2, 3})
        lines += [f"  {line}" for line in table.splitlines()]
        lines += [f"  {label}: skipped: {reason}" for label, reason in work["skipped"].items()]
        lines.append(f"  fast scratch-rnn's recurrence steps: {work['fast_recurrence']}")
        lines += [f"  matmul roofline {name}: {value:.1f} GFLOP/s" for name, value in work["matmul_gflops"].items()]
        gen = work["generation_chars_per_sec"]
        ratio = gen["fast generate"] / gen["textbook predict"]
        lines.append(f"  generation (greedy, batch 1): textbook {gen['textbook predict']:,.0f} chars/s, ours "
                     f"({work['generation_stepper']}) {gen['fast generate']:,.0f} chars/s ({ratio:.1f}×)")
        lines += [f"  {label} bf16 vs float32, same minibatches: max loss difference {difference:.2e}"
                  for label, difference in work["max_loss_difference_bf16_vs_float32"].items()]
        if work["max_loss_difference_textbook_vs_fast"] is not None:
            lines.append(f"  textbook vs fast, same minibatches: max loss difference "
                         f"{work['max_loss_difference_textbook_vs_fast']:.2e}")
    run_peak = results["d2l_training_run_peak_rss_mib"]
    lines.append(f"\npeak RSS of a d2l-configuration training run (2 epochs, its own process): "
                 f"{'not measured' if run_peak is None else f'{run_peak:.0f} MiB'}; of the benchmark's "
                 f"largest process (the timing children included): {results['peak_rss_mib']:.0f} MiB")
    return "\n".join(lines)


def run_dashboard_bench(quick: bool, repeats: int, as_json: bool) -> int:
    from rnn_tui.tui.cli.bench_dashboard import BenchError, measure_dashboard
    if repeats < 1:
        raise InputError("--repeats must be at least 1")
    try:
        result = measure_dashboard(repeats=1 if quick else repeats, epochs=3 if quick else 4,
                                   presses=5 if quick else 20)
    except BenchError as exc:
        raise InputError(str(exc)) from None
    click.echo(json.dumps(result, indent=2) if as_json else format_dashboard_bench(result))
    return 0


def format_dashboard_bench(result: dict) -> str:
    lines = [
        f"dashboard bench ({result['configuration']}; dashboards in a {result['terminal']}; "
        f"{result['repeats']} rounds of runs in rotating order, epochs after the first)",
        f"  on {result['cpu']}",
        f"  headless   {result['headless_tokens_per_sec']:>10,.0f} tokens/s (median epoch)",
    ]
    for name, how in (("dashboard", "started in the dashboard"), ("attached", "detached, a dashboard attached")):
        pairs = ", ".join(f"{100 * ratio:.1f}" for ratio in result[f"{name}_pair_ratios"])
        lines.append(f"  {name:<10} {result[f'{name}_tokens_per_sec']:>10,.0f} tokens/s ({how}): "
                     f"{100 * result[f'{name}_over_headless']:.1f} % of headless, median of the rounds ({pairs} %)")
    lines.append(f"  key to screen, idle and while a run trains (polled every {result['poll_ms']:.0f} ms):")
    shows = {"f1": "opens the help", "escape": "closes it; Textual first waits ESCDELAY (100 ms by default) "
                                                "to tell a lone escape from a key sequence"}
    for when, timings in result["key_to_screen_ms"].items():
        for key, latency in timings.items():
            lines.append(f"    {when:<9}{key:<7} median {latency['median']:>4.0f} ms, p90 {latency['p90']:>4.0f} ms, "
                         f"max {latency['max']:>4.0f} ms ({latency['presses']} presses)")
    lines += [f"    {key}: {meaning}" for key, meaning in shows.items()]
    return "\n".join(lines)
