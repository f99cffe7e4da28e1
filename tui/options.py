"""The training options shared by ``rnn-tui`` (to pre-fill the form) and ``rnn-tui train``.

Option names are a contract (scripts use them): ``--name`` ↔ ``TrainConfig.name``.
Kept free of torch and Textual so ``rnn-tui --help`` starts instantly.
"""
from __future__ import annotations

import click

from ..engine.config import (ACTIVATIONS, AUTOCAST_MODES, INPUT_KINDS, KERNELS, MODEL_NAMES, OPTIMIZERS,
                                   PREPROCESS_MODES, SAMPLERS, SCRATCH_PATHS, TOKEN_KINDS, TrainConfig)

_D = TrainConfig()

# engine/kernels: also an option of `generate` and `bench`
kernels_option = click.option(
    "--kernels", type=click.Choice(KERNELS), default=_D.kernels, show_default=True, envvar="RNN_TUI_KERNELS",
    show_envvar=True, help="What the fast path runs on: auto (the fastest here), or c, onednn, torch where they run.")

TRAIN_OPTIONS = [
    click.option("--corpus", default=None, metavar="NAME",
                 help=f"A named corpus (`rnn-tui corpora`), e.g. markov:order=2,seed=0. [default: {_D.corpus}]"),
    click.option("--corpus-file", type=click.Path(), default=None, help="Train on any UTF-8 text file."),
    click.option("--encoding", default=_D.encoding, show_default=True, help="Encoding of --corpus-file."),
    click.option("--encoding-errors", type=click.Choice(["strict", "replace"]), default=_D.encoding_errors,
                 show_default=True, help="replace: undecodable bytes become U+FFFD instead of an error."),
    click.option("--preprocess", type=click.Choice(PREPROCESS_MODES), default=None,
                 help="d2l: letters only, lower case; raw: every character. [default: the corpus's]"),
    click.option("--tokens", type=click.Choice(TOKEN_KINDS), default=_D.tokens, show_default=True),
    click.option("--max-tokens", type=int, default=None,
                 help="Use the first N tokens; 0 = all. [default: the corpus's]"),
    click.option("--val-fraction", type=float, default=_D.val_fraction, show_default=True,
                 help="Tail of the token stream held out for validation."),
    click.option("--min-freq", type=int, default=_D.min_freq, show_default=True,
                 help="Rarer tokens map to <unk>."),
    click.option("--max-vocab", type=int, default=_D.max_vocab, show_default=True,
                 help="Cap the vocabulary (<unk> included); 0 = no cap."),
    click.option("--model", type=click.Choice(MODEL_NAMES), default=_D.model, show_default=True),
    click.option("--hidden", type=int, default=_D.hidden, show_default=True),
    click.option("--layers", type=int, default=_D.layers, show_default=True, help="Concise models only."),
    click.option("--dropout", type=float, default=_D.dropout, show_default=True, help="Concise models only."),
    click.option("--activation", type=click.Choice(ACTIVATIONS), default=_D.activation, show_default=True,
                 help="scratch-rnn only."),
    click.option("--path", "path", type=click.Choice(SCRATCH_PATHS), default=_D.path, show_default=True,
                 help="Scratch models: textbook (one-hot, per-step output) or the equivalent fast path."),
    kernels_option,
    click.option("--input", "input", type=click.Choice(INPUT_KINDS), default=_D.input, show_default=True,
                 help="Concise models: one-hot inputs (d2l) or a learned embedding."),
    click.option("--autocast", type=click.Choice(AUTOCAST_MODES), default=_D.autocast, show_default=True,
                 help="Concise models: bf16 runs the forward in bfloat16 (torch.autocast; weights stay float32)."),
    click.option("--batch-size", type=int, default=_D.batch_size, show_default=True),
    click.option("--num-steps", type=int, default=_D.num_steps, show_default=True),
    click.option("--sampler", type=click.Choice(SAMPLERS), default=_D.sampler, show_default=True),
    click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=_D.optimizer, show_default=True),
    click.option("--lr", type=float, default=_D.lr, show_default=True),
    click.option("--epochs", type=int, default=_D.epochs, show_default=True),
    click.option("--clip", type=float, default=_D.clip, show_default=True, help="Global-norm clip θ; 0 = off."),
    click.option("--device", default=_D.device, show_default=True, help="auto|cpu|cuda|cuda:N|mps"),
    click.option("--seed", type=int, default=_D.seed, show_default=True),
    click.option("--prefix", default=None, help="Prompt for samples. [default: the corpus's, else 'time traveller']"),
    click.option("--sample-every", type=int, default=_D.sample_every, show_default=True,
                 help="Epochs between samples; 0 = none."),
    click.option("--sample-length", type=int, default=_D.sample_length, show_default=True),
    click.option("--temperature", type=float, default=_D.temperature, show_default=True, help="0 = greedy."),
    click.option("--top-k", type=int, default=_D.top_k, show_default=True, help="0 = all tokens."),
    click.option("--checkpoint-every", type=int, default=_D.checkpoint_every, show_default=True),
    click.option("--run-dir", type=click.Path(), default=None, help="[default: runs/<timestamp>-<model>]"),
    click.option("--resume", type=click.Path(), default=None,
                 help="Continue a checkpoint or run folder (its config; --epochs may extend it)."),
]


def train_options(func):
    for option in reversed(TRAIN_OPTIONS):
        func = option(func)
    return func


def config_from_options(options: dict) -> TrainConfig:
    """A ``TrainConfig`` from parsed options (``None`` keeps the corpus-dependent defaults open)."""
    values = {k: v for k, v in options.items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    config = TrainConfig(**values)
    if options.get("prefix") is None:
        config.prefix = ""  # filled from the corpus once it is known
    return config
