"""Named recipes: a preset fills a run's options; an option the user gives wins over it.

``d2l*`` are the book's own settings (a lesson: plain SGD, the last epoch's weights). The quality
recipes are tuned here for a 2-core CPU, half an hour or five minutes (docs/benchmarks.md has their
curves): an embedding-input LSTM (the embedding no wider than the vocabulary needs, where that was
measured), AdamW, a warmup then cosine decay planned over ``--max-time``, dropout where there is time
to overfit, and the best validation epoch kept.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    purpose: str
    options: dict  # TrainConfig field -> value


# d2l §8.5: what TrainConfig's defaults already are, with the book's corpus
D2L = {"corpus": "timemachine", "model": "scratch-rnn", "hidden": 512, "batch_size": 32, "num_steps": 35,
       "sampler": "sequential", "optimizer": "sgd", "lr": 1.0, "epochs": 500, "clip": 1.0}

# the half-hour quality recipe (docs/benchmarks.md); the five-minute one is it with what five minutes want
SHAKESPEARE = {"corpus": "tinyshakespeare", "model": "lstm", "input": "embedding", "embedding_dim": 64, "hidden": 512,
               "layers": 1, "dropout": 0.25, "batch_size": 32, "num_steps": 100, "sampler": "sequential",
               "optimizer": "adamw", "lr": 5e-3, "weight_decay": 0.1, "lr_schedule": "cosine", "warmup": 100,
               "lr_min": 2e-4, "epochs": 60, "max_time": 1800.0, "eval": "windows:200:256", "clip": 1.0,
               "val_fraction": 0.1, "sample_every": 2, "sample_length": 200, "temperature": 0.8, "top_k": 0}

PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("d2l", "d2l §8.5: the scratch RNN on The Time Machine, SGD at lr 1, 500 epochs, sequential "
                  "minibatches (perplexity about 1.0)", D2L),
    Preset("d2l-random", "d2l §8.5 with random minibatches (the book's second run; state reset each minibatch)",
           {**D2L, "sampler": "random"}),
    Preset("d2l-concise", "d2l §8.6: nn.RNN with 256 hidden units and a Linear head, SGD at lr 1, 500 epochs",
           {**D2L, "model": "rnn", "hidden": 256}),
    Preset("shakespeare", "quality on tiny Shakespeare in half an hour on a 2-core CPU (its own --max-time 30m): "
                          "LSTM 512 on 64-wide embeddings, AdamW at 5e-3, 100 warmup minibatches then cosine, "
                          "batch 32, dropout 0.25, both validation measures, best.pt by val loss", SHAKESPEARE),
    Preset("shakespeare-5m", "quality on tiny Shakespeare in 5 minutes on a 2-core CPU (its own --max-time 5m): "
                             "LSTM 512 on 64-wide embeddings, AdamW at 5e-3, 50 warmup minibatches then cosine, "
                             "batch 32, no dropout, both validation measures, best.pt by val loss",
           {**SHAKESPEARE, "dropout": 0.0, "warmup": 50, "max_time": 300.0, "sample_every": 1}),
    Preset("tang", "Tang poems (5,509 characters): LSTM 512 on embeddings, AdamW, warmup + cosine; add "
                   "--max-time to fit your budget",
           {"corpus": "tang-poems", "model": "lstm", "input": "embedding", "hidden": 512, "layers": 1,
            "dropout": 0.25, "batch_size": 64, "num_steps": 64, "sampler": "random", "optimizer": "adamw",
            "lr": 4e-3, "weight_decay": 0.1, "lr_schedule": "cosine", "warmup": 200, "lr_min": 2e-4,
            "epochs": 40, "clip": 1.0, "sample_every": 2, "sample_length": 64, "temperature": 0.8}),
)}


def preset_values(name: str) -> dict:
    """The options preset ``name`` sets; ValueError naming the presets for an unknown one."""
    if name not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)} (got {name!r}); `rnn-tui presets` lists them")
    return {**PRESETS[name].options, "preset": name}

