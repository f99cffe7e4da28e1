"""A quality preset's training speed against what this CPU's products allow: tokens/s of its
minibatch step (forward, backward, clip, AdamW), the matmul work per token, and that as a fraction
of the float32 (and, where the CPU trains it, bfloat16) product rate measured here.

    python scripts/preset_roofline.py [--preset shakespeare] [--minibatches 30]

The roofline is the rate (``matmul_gflops``, as `rnn-tui bench` times it) of a large product (4096³)
and of the two the step is made of: the input's (B·T × E)·(E × gates·h), one product for all
steps, and the recurrence's (B × h)·(h × gates·h), T sequential ones. Random tokens over the
preset's vocabulary (66: tiny Shakespeare); run it with nothing else on the CPU. Not a test.
"""
from __future__ import annotations

import argparse
import time

import torch

from rnn_tui.engine.bench.roofline import matmul_gflops
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.cpu import bf16_problem, describe_cpu
from rnn_tui.engine.models import detach_state, model_for
from rnn_tui.engine.presets import preset_values
from rnn_tui.engine.steps import make_optimizer, train_minibatch

GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def flops_per_token(config: TrainConfig, vocab_size: int) -> float:
    """Matmul work per token of the concise model, forward + backward (3× forward)."""
    h, gates = config.hidden, GATES[config.model]
    width = config.embedding_dim or h  # each layer after the first reads the one below it
    inputs = [width] + [h] * (config.layers - 1)
    return 3 * 2 * (sum(e * gates * h + h * gates * h for e in inputs) + h * vocab_size)


def tokens_per_sec(config: TrainConfig, vocab_size: int, minibatches: int) -> float:
    torch.manual_seed(0)
    model = model_for(config, vocab_size)
    optimizer = make_optimizer(model.parameters(), config)
    params = list(model.parameters())
    B, T = config.batch_size, config.num_steps
    X, Y = torch.randint(0, vocab_size, (2, B, T)).unbind(0)
    state = model.begin_state(B)
    for i in range(3 + minibatches):  # three to warm up
        if i == 3:
            started = time.perf_counter()
        loss, _, state = train_minibatch(model, optimizer, X, Y, state, params, config.clip, config.autocast)
        state = detach_state(state)
        loss.item()  # the step has finished
    return minibatches * B * T / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="shakespeare")
    parser.add_argument("--minibatches", type=int, default=30)
    parser.add_argument("--vocab-size", type=int, default=66)
    args = parser.parse_args()
    config = TrainConfig(**preset_values(args.preset))
    h, gates, B, T = config.hidden, GATES[config.model], config.batch_size, config.num_steps
    width = config.embedding_dim or h
    work = flops_per_token(config, args.vocab_size)
    print(f"{describe_cpu()}; {torch.get_num_threads()} threads")
    print(f"--preset {args.preset}: {config.model} {h} on a {width}-wide embedding, batch {B} × {T}; "
          f"{work / 1e6:.2f} MFLOP per token (forward + backward)")
    for dtype, label in ((torch.float32, "float32"), (torch.bfloat16, "bfloat16")):
        if dtype is torch.bfloat16 and (problem := bf16_problem(config.model)):
            print(f"{label}: N/A ({problem})")
            continue
        config.autocast = "bf16" if dtype is torch.bfloat16 else "off"
        shapes = {"4096³": (4096, 4096, 4096),
                  f"input ({B * T}×{width})·({width}×{gates * h})": (B * T, width, gates * h),
                  f"recurrence ({B}×{h})·({h}×{gates * h})": (B, h, gates * h)}
        rates = {name: matmul_gflops(*shape, "cpu", dtype) for name, shape in shapes.items()}
        speed = tokens_per_sec(config, args.vocab_size, args.minibatches)
        achieved = speed * work / 1e9
        print(f"{label}: {speed:,.0f} tokens/s = {achieved:.1f} GFLOP/s of products")
        for name, rate in rates.items():
            print(f"  product {name}: {rate:.1f} GFLOP/s; the step runs at {achieved / rate:.0%} of it")


if __name__ == "__main__":
    main()
