"""How far each scratch-RNN path's float32 loss, gradients and gradient norm stand from float64, and
whether they lean one way: the experiment behind docs/benchmarks.md's d2l fidelity section.

    rnn-tui train --corpus timemachine --val-fraction 0 --epochs 300 --run-dir runs/late
    python scripts/gradient_error.py runs/late [--minibatches 40]

From the run's latest checkpoint (late training is where lr 1 spikes), over the first minibatches of
a sequential epoch, each path computes the loss and the gradient from the same weights and state:
the textbook loop in float64 is the reference; the textbook loop in float32 is what the book's own
rounding does; the fast path on each kernel family is what rnn-tui's does. Per path and tensor it
prints the relative error ‖g − g64‖/‖g64‖ and the mean cosine between the error and g64 (a
systematic lean: an error that shrinks or grows the gradient shows as a cosine away from 0), the
loss's mean signed error and the pre-clip global norm's (what clipping divides by). Not a test.
"""
from __future__ import annotations

import argparse
import copy
import random
import statistics

import torch

from rnn_tui.engine import kernels
from rnn_tui.engine.checkpoint import load_checkpoint, model_from_checkpoint
from rnn_tui.engine.models import detach_state
from rnn_tui.engine.samplers import seq_data_iter_sequential
from rnn_tui.engine.session import load_corpus_for
from rnn_tui.engine.text import tokenize


def loss_and_gradients(model, X, Y, state) -> tuple[float, dict[str, torch.Tensor], tuple]:
    model.zero_grad(set_to_none=True)
    loss, new_state = model.loss(X, Y, state)
    loss.backward()
    return loss.item(), {name: p.grad.double() for name, p in model.named_parameters()}, detach_state(new_state)


def paths_of(model) -> dict:
    """The float32 paths to measure, each a copy of ``model``: textbook, and fast on each kernel family here."""
    paths = {"textbook f32": ("textbook", "auto")}
    for family in ("c", "onednn", "torch"):
        if kernels.problem(family, torch.device("cpu")) is None:
            paths[f"fast {family}"] = ("fast", family)
    copies = {}
    for name, (path, family) in paths.items():
        copies[name] = copy.deepcopy(model).float().train()
        copies[name].path, copies[name].kernels = path, family
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a scratch-RNN run folder (or checkpoint file)")
    parser.add_argument("--minibatches", type=int, default=40)
    args = parser.parse_args()
    state = load_checkpoint(args.run)
    model, vocab, config = model_from_checkpoint(state)
    text = load_corpus_for(config).text
    corpus = torch.tensor(vocab[tokenize(text, config.preprocess or "raw", config.tokens)], dtype=torch.long)
    batches = seq_data_iter_sequential(corpus, config.batch_size, config.num_steps, random.Random(0))

    reference = copy.deepcopy(model).double().train()
    reference.path = "textbook"
    paths = paths_of(model)
    names = [name for name, _ in reference.named_parameters()]
    errors = {path: {"loss": [], "norm": [], **{n: [] for n in names}, **{f"cos {n}": [] for n in names}}
              for path in paths}
    H = reference.begin_state(config.batch_size)
    for X, Y in list(zip(batches.X, batches.Y))[: args.minibatches]:
        loss64, grads64, H_next = loss_and_gradients(reference, X, Y, H)
        norm64 = torch.cat([g.flatten() for g in grads64.values()]).norm().item()
        for path, net in paths.items():
            loss, grads, _ = loss_and_gradients(net, X, Y, tuple(h.float() for h in H))
            errors[path]["loss"].append((loss - loss64) / loss64)
            norm = torch.cat([g.flatten() for g in grads.values()]).norm().item()
            errors[path]["norm"].append((norm - norm64) / norm64)
            for n in names:
                delta = grads[n] - grads64[n]
                errors[path][n].append((delta.norm() / grads64[n].norm()).item())
                errors[path][f"cos {n}"].append(torch.nn.functional.cosine_similarity(
                    delta.flatten(), grads64[n].flatten(), dim=0).item())
        H = H_next  # every path starts each minibatch from the float64 state: the errors do not compound

    print(f"{args.run}: epoch {state['epoch']}, {args.minibatches} sequential minibatches, errors against float64")
    print(f"{'path':>13} | loss (mean signed) | grad norm (mean signed) | "
          + " | ".join(f"{n}: rel. err, cos" for n in names))
    for path, e in errors.items():
        cells = [f"{statistics.mean(e['loss']):+.1e}", f"{statistics.mean(e['norm']):+.1e}"]
        cells += [f"{statistics.mean(e[n]):.1e}, {statistics.mean(e['cos ' + n]):+.2f}" for n in names]
        print(f"{path:>13} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
