"""d2l §8.5 with rnn-tui: 500 epochs of the scratch RNN on The Time Machine, seed after seed, path by path.

    python scripts/reproduce_d2l.py --seeds 0-11 --paths c,onednn,textbook [--sampler sequential]
                                    [--save traces.json]

Runs ``rnn-tui train`` once per seed and path, one after another (two trainings at once slow each
other far more than by half), the paths interleaved seed by seed so that a study cut short stays
balanced. A path is ``textbook`` (d2l's loop) or the fast path on one kernel family (``c``,
``onednn``, ``torch``, ``auto``). Prints each run's final training perplexity and its spikes, then a
line per path: median, quartiles, range, how many runs ended above 1.1 and how many spiked. These
are the figures of docs/benchmarks.md. Minutes per run; not a test.

A spike is an epoch whose perplexity is more than SPIKE_RISE above the lowest seen before it, once
the run has first gone below SETTLED: the late-training jumps that SGD at lr 1 can take.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from rnn_tui.engine.launch import rnn_tui_command

SETTLED = 1.1       # a run counts as trained once its perplexity first falls below this
SPIKE_RISE = 0.05   # a spike: perplexity more than 5 % above the lowest so far


def seeds_of(spec: str) -> list[int]:
    """``0-11`` or ``0,3,5``."""
    if "-" in spec:
        first, last = spec.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in spec.split(",")]


def path_options(path: str) -> list[str]:
    """The ``train`` options that select one path: the textbook loop, or the fast path on one family."""
    if path == "textbook":
        return ["--path", "textbook"]
    return ["--path", "fast", "--kernels", path]


def spikes_of(perplexities: list[float]) -> list[dict]:
    """The epochs (1-based) where a settled run rose more than SPIKE_RISE above its lowest so far."""
    spikes, lowest, settled = [], float("inf"), False
    for epoch, perplexity in enumerate(perplexities, start=1):
        if settled and perplexity > lowest * (1 + SPIKE_RISE):
            spikes.append({"epoch": epoch, "perplexity": perplexity, "lowest_before": lowest})
        lowest = min(lowest, perplexity)
        settled = settled or perplexity < SETTLED
    return spikes


def spikes_text(spikes: list[dict]) -> str:
    if not spikes:
        return "no spike"
    peak = max(spikes, key=lambda spike: spike["perplexity"])
    return (f"{len(spikes)} spike epochs, the first at {spikes[0]['epoch']}, the highest "
            f"{peak['perplexity']:.3f} at {peak['epoch']}")


def train_once(seed: int, path: str, args: argparse.Namespace, folder: str) -> dict:
    command = rnn_tui_command("train", "--corpus", "timemachine", "--val-fraction", "0", "--epochs", str(args.epochs),
                              "--sampler", args.sampler, *path_options(path), "--seed", str(seed),
                              "--sample-every", "0", "--json", "--run-dir", f"{folder}/{path}-{seed}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"seed {seed}, {path}: rnn-tui train failed: {done.stderr.strip()}")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    trace = [event["train_perplexity"] for event in events if event["event"] == "epoch"]
    finished = events[-1]
    return {"path": path, "seed": seed, "perplexity": finished["train_perplexity"], "lowest": min(trace),
            "spikes": spikes_of(trace), "tokens_per_sec": finished["tokens_per_sec"],
            "elapsed_s": finished["elapsed_s"], "text": finished["samples"][0]["text"], "trace": trace}


def summary_line(path: str, runs: list[dict]) -> str:
    finals = sorted(run["perplexity"] for run in runs)
    quartiles = statistics.quantiles(finals, n=4) if len(finals) > 1 else [finals[0]] * 3
    spiked = [run for run in runs if run["spikes"]]
    return (f"{path:>8}: {len(runs)} seeds, final perplexity median {statistics.median(finals):.3f}, "
            f"quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, range {finals[0]:.3f}-{finals[-1]:.3f}; "
            f"{sum(final > SETTLED for final in finals)} ended above {SETTLED}; {len(spiked)} spiked "
            f"({sum(len(run['spikes']) for run in runs)} spike epochs); tokens/s median "
            f"{statistics.median(run['tokens_per_sec'] for run in runs):,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-11")
    parser.add_argument("--paths", default="c,onednn,textbook",
                        help="comma-separated: textbook, or a fast-path kernel family (c, onednn, torch, auto)")
    parser.add_argument("--sampler", default="sequential", choices=["sequential", "random"])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--save", metavar="FILE", help="write every run, its per-epoch perplexities included, as JSON")
    args = parser.parse_args()
    paths = args.paths.split(",")
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="rnn-tui-d2l-") as folder:
        for seed in seeds_of(args.seeds):
            for path in paths:
                runs.append(train_once(seed, path, args, folder))
                run = runs[-1]
                print(f"seed {seed:>2} {path:>8}: final {run['perplexity']:.3f}, lowest {run['lowest']:.3f}, "
                      f"{spikes_text(run['spikes'])}; {run['tokens_per_sec']:,.0f} tokens/s; {run['text'][:40]!r}",
                      flush=True)
                if args.save:
                    with open(args.save, "w") as out:
                        json.dump(runs, out)
    print(f"{args.sampler} sampler, {args.epochs} epochs:")
    for path in paths:
        print(summary_line(path, [run for run in runs if run["path"] == path]))


if __name__ == "__main__":
    main()
