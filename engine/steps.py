"""One minibatch's step and one pass over held-out text: the arithmetic the trainer's loop repeats.

``train_minibatch`` is the body of d2l's ``train_epoch_ch8``; ``evaluate_loss`` the validation the
book does not have; ``make_optimizer`` the choice of ``--optimizer``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from rnn_tui.engine.clipping import grad_clipping
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.device import autocast
from rnn_tui.engine.distributed import World


def train_minibatch(model, optimizer, X: torch.Tensor, Y: torch.Tensor, state, params, clip: float,
                    autocast_mode: str = "off"):
    """Forward, mean cross-entropy, backward, global-norm clip, step (d2l's ``train_epoch_ch8`` body).

    X, Y: (B, T). ``autocast_mode`` is the config's ``autocast``: "bf16" runs the forward (only)
    under ``torch.autocast``. Returns (loss, pre-clip grad norm, new state), all left on the device.
    """
    with autocast(X.device, autocast_mode):
        loss, state = model.loss(X, Y, state)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = grad_clipping(params, clip)
    optimizer.step()
    return loss.detach(), norm, state


@torch.no_grad()
def evaluate_loss(model, corpus: torch.Tensor, batch_size: int, num_steps: int,
                  autocast_mode: str = "off", world: World = World()) -> float | None:
    """Mean cross-entropy in nats over ``corpus``, read as up to ``batch_size`` streams, state carried.

    In eval mode (no dropout). ``autocast_mode`` "bf16": the forward in bfloat16, as the model
    trains; the cross-entropy in float32. Under data parallelism each rank reads its share of the
    streams and the total is summed over ranks. None when the text is too short to predict anything."""
    if len(corpus) < 2:
        return None
    was_training = model.training
    model.eval()
    streams = max(1, min(batch_size, (len(corpus) - 1) // num_steps))
    length = (len(corpus) - 1) // streams
    mine = torch.arange(streams).tensor_split(world.size)[world.rank]
    X = corpus[: streams * length].view(streams, length)[mine]
    Y = corpus[1: streams * length + 1].view(streams, length)[mine]
    total = torch.zeros((), device=corpus.device, dtype=torch.float64)
    if len(mine):
        state = model.begin_state(len(mine), corpus.device)
        for i in range(0, length, num_steps):
            with autocast(corpus.device, autocast_mode):
                logits, state = model(X[:, i: i + num_steps], state)
            total += nn.functional.cross_entropy(logits.float(), Y[:, i: i + num_steps].T.reshape(-1),
                                                 reduction="sum")
    model.train(was_training)
    return world.sum(total).item() / (streams * length)


def window_starts(num_tokens: int, count: int, length: int, seed: int) -> torch.Tensor:
    """Where ``--eval windows:N:L``'s ``count`` windows of ``length`` + 1 tokens start in ``num_tokens``
    of held-out text: drawn once from the run's seed, so every epoch (and a resumed run) scores the same."""
    drawn = torch.Generator().manual_seed(seed + 1)  # apart from the seed's other draws
    return torch.randint(0, num_tokens - length, (count,), generator=drawn)


def evaluate_windows(model, corpus: torch.Tensor, starts: torch.Tensor, length: int, batch_size: int,
                     autocast_mode: str = "off", world: World = World()) -> tuple[float, float | None] | None:
    """nanoGPT's measure: the mean cross-entropy in nats over the windows of ``length`` + 1 tokens at
    ``starts`` (predicting each window's last ``length`` from what precedes them in it), every window
    read from a fresh state, and that mean's standard error over the windows (None for one window).
    Each window weighs the same, as nanoGPT's mean over batches of windows does. In eval mode; under
    data parallelism each rank reads its share of the windows."""
    if len(starts) == 0 or len(corpus) < length + 1:
        return None
    was_training = model.training
    model.eval()
    mine = starts.tensor_split(world.size)[world.rank]
    offsets = torch.arange(length + 1, device=corpus.device)
    sums = torch.zeros(2, device=corpus.device, dtype=torch.float64)  # of the windows' means and of their squares
    for i in range(0, len(mine), batch_size):
        windows = corpus[mine[i: i + batch_size].to(corpus.device)[:, None] + offsets]  # (B, length + 1)
        state = model.begin_state(len(windows), corpus.device)
        with autocast(corpus.device, autocast_mode):
            logits, _ = model(windows[:, :-1], state)
        losses = nn.functional.cross_entropy(logits.float(), windows[:, 1:].T.reshape(-1), reduction="none")
        per_window = losses.view(length, -1).double().mean(0)
        sums += torch.stack((per_window.sum(), per_window.square().sum()))
    model.train(was_training)
    total, squares = world.sum(sums).tolist()
    count = len(starts)
    mean = total / count
    if count < 2:
        return mean, None
    variance = max(0.0, (squares - count * mean * mean) / (count - 1))  # rounding may take it just below 0
    return mean, math.sqrt(variance / count)


def make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    # d2l's minibatch SGD with lr on the *mean* loss (seed 001 also divides lr by the batch size).
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    return optimizers[config.optimizer](params, lr=config.lr, weight_decay=config.weight_decay)
