"""Where nanoGPT's window measure loses against the stateful pass: a run's best.pt scored position by
position over the windows its `--eval windows:N:L` drew, beside a bigram model of the training text.

    python scripts/window_positions.py runs/shakespeare [--windows 200] [--length 256] [--draw-seed S]

Each window is read from a fresh state, so its first positions are predicted from almost no context.
Per band of positions it prints the mean loss and what the band adds to the window's mean above the
level of positions 100 and later, and the mean's standard error over windows (how far another draw
of as many windows may land: nanoGPT's 12,800 windows pin it down, 200 do not). The bigram baseline
(counts of the training tokens, add-0.1) is scored on the same first transitions and on every
transition of the held-out text: the first position sees one token, as a bigram does. Not a test.
"""
from __future__ import annotations

import argparse

import torch
from torch import nn

from rnn_tui.engine.checkpoint import load_checkpoint, model_from_checkpoint
from rnn_tui.engine.samplers import split_train_val
from rnn_tui.engine.session import load_corpus_for
from rnn_tui.engine.steps import window_starts
from rnn_tui.engine.text import tokenize

BANDS = [(0, 1), (1, 2), (2, 5), (5, 10), (10, 20), (20, 50), (50, 100), (100, None)]


def window_losses(model, corpus: torch.Tensor, starts: torch.Tensor, length: int, batch_size: int = 256):
    """Cross-entropy in nats at each position of each window, (windows, ``length``), each from a fresh state."""
    model.eval()
    offsets = torch.arange(length + 1)
    rows = []
    with torch.no_grad():
        for i in range(0, len(starts), batch_size):
            windows = corpus[starts[i: i + batch_size, None] + offsets]  # (B, length + 1)
            logits, _ = model(windows[:, :-1], model.begin_state(len(windows)))  # (length·B, V), time-major
            losses = nn.functional.cross_entropy(logits, windows[:, 1:].T.reshape(-1), reduction="none")
            rows.append(losses.view(length, -1).T.double())
    return torch.cat(rows)


def bigram_log_probs(train: torch.Tensor, vocab_size: int, smoothing: float = 0.1) -> torch.Tensor:
    """log P(next | previous) from the training tokens' pair counts, add-``smoothing``."""
    counts = torch.full((vocab_size, vocab_size), smoothing, dtype=torch.float64)
    counts.index_put_((train[:-1], train[1:]), torch.ones(len(train) - 1, dtype=torch.float64), accumulate=True)
    return (counts / counts.sum(1, keepdim=True)).log()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run folder (its best.pt is scored)")
    parser.add_argument("--windows", type=int, help="how many windows (default: the run's --eval N, else 200)")
    parser.add_argument("--length", type=int, help="window length (default: the run's --eval L, else 256)")
    parser.add_argument("--draw-seed", type=int, help="draw the windows from this seed (default: the run's, "
                                                      "so the windows its --eval scored)")
    args = parser.parse_args()
    model, vocab, config = model_from_checkpoint(load_checkpoint(args.run, which="best"))
    count, length = config.eval_windows() or (200, 256)
    count, length = args.windows or count, args.length or length
    tokens = tokenize(load_corpus_for(config).text, config.preprocess or "raw", config.tokens)
    if config.max_tokens:
        tokens = tokens[: config.max_tokens]
    train, val = split_train_val(torch.tensor(vocab[tokens], dtype=torch.long), config.val_fraction)
    seed = config.seed if args.draw_seed is None else args.draw_seed
    starts = window_starts(len(val), count, length, seed)  # by default the windows the run scored

    losses = window_losses(model, val, starts, length)
    per_position, per_window = losses.mean(0), losses.mean(1)
    tail = per_position[100:].mean().item() if length > 100 else float("nan")
    error = per_window.std().item() / len(per_window) ** 0.5 if len(per_window) > 1 else float("nan")
    print(f"{args.run}: {count} windows of {length} (drawn from seed {seed}), mean {per_position.mean().item():.4f} "
          f"nats, standard error {error:.4f}; positions 100 and later {tail:.4f}")
    for first, last in BANDS:
        band = per_position[first:last]
        if len(band):
            excess = (band - tail).sum().item() / length
            print(f"  positions {first:>3}–{(last or length) - 1:<3}  {band.mean().item():.3f} nats   "
                  f"adds {excess:+.4f} to the window mean")
    bigram = bigram_log_probs(train, len(vocab))
    first_pairs = val[starts], val[starts + 1]
    print(f"bigram of the training text (add-0.1): {-bigram[first_pairs].mean().item():.3f} nats on these windows' "
          f"first transitions, {-bigram[val[:-1], val[1:]].mean().item():.3f} on all of the held-out text")


if __name__ == "__main__":
    main()
