"""d2l §8.5 with rnn-tui: 500 epochs of the scratch RNN on The Time Machine, over several seeds.

    python scripts/reproduce_d2l.py --seeds 0-7 --sampler sequential [--path fast] [--kernels auto]

Runs ``rnn-tui train`` once per seed, one after another (two trainings at once would slow each other
far more than by half), and prints the final training perplexity of each and their median and range:
the figures of the README's d2l table and of docs/benchmarks.md. Minutes per seed; not a test.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile

from rnn_tui.engine.launch import rnn_tui_command


def seeds_of(spec: str) -> list[int]:
    """``0-7`` or ``0,3,5``."""
    if "-" in spec:
        first, last = spec.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in spec.split(",")]


def final_epoch(seed: int, args: argparse.Namespace, folder: str) -> dict:
    command = rnn_tui_command("train", "--corpus", "timemachine", "--val-fraction", "0", "--epochs", str(args.epochs),
                              "--sampler", args.sampler, "--path", args.path, "--kernels", args.kernels,
                              "--seed", str(seed), "--sample-every", "0", "--json", "--run-dir", f"{folder}/{seed}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"seed {seed}: rnn-tui train failed: {done.stderr.strip()}")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    finished = events[-1]
    return {"seed": seed, "perplexity": finished["train_perplexity"], "tokens_per_sec": finished["tokens_per_sec"],
            "elapsed_s": finished["elapsed_s"], "text": finished["samples"][0]["text"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-7")
    parser.add_argument("--sampler", default="sequential", choices=["sequential", "random"])
    parser.add_argument("--path", default="fast", choices=["fast", "textbook"])
    parser.add_argument("--kernels", default="auto")
    parser.add_argument("--epochs", type=int, default=500)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="rnn-tui-d2l-") as folder:
        for seed in seeds_of(args.seeds):
            results.append(final_epoch(seed, args, folder))
            print(json.dumps(results[-1]), flush=True)
    perplexities = [r["perplexity"] for r in results]
    print(f"{args.sampler}, {args.path} path, --kernels {args.kernels}, seeds {args.seeds}: final training "
          f"perplexity median {statistics.median(perplexities):.3f} (range {min(perplexities):.3f}-"
          f"{max(perplexities):.3f}); tokens/s median {statistics.median(r['tokens_per_sec'] for r in results):,.0f}")


if __name__ == "__main__":
    main()
