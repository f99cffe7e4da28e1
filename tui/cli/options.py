"""The training options shared by ``rnn-tui`` (to pre-fill the form) and ``rnn-tui train``.

Option names are a contract (scripts use them): ``--name`` ↔ ``TrainConfig.name``.
Kept free of torch and Textual so ``rnn-tui --help`` starts instantly.
"""
from __future__ import annotations

import click

from rnn_tui.engine.config import (ACTIVATIONS, AUTOCAST_MODES, INPUT_KINDS, KERNELS, LR_SCHEDULES, MODEL_NAMES,
                                   OPTIMIZERS, PREPROCESS_MODES, SAMPLERS, SCRATCH_PATHS, TOKEN_KINDS, TrainConfig)
from rnn_tui.engine.presets import PRESETS, preset_values
from rnn_tui.engine.schedule import parse_duration

_D = TrainConfig()

# engine/kernels: also an option of `generate` and `bench`
kernels_option = click.option(
    "--kernels", type=click.Choice(KERNELS), default=_D.kernels, show_default=True, envvar="RNN_TUI_KERNELS",
    show_envvar=True, help="What the fast path runs on: auto (the fastest here), or c, onednn, torch where they run.")



class Duration(click.ParamType):
    """``90``, ``90s``, ``30m``, ``1h30m`` → seconds."""
    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TRAIN_OPTIONS = [
    click.option("--preset", type=click.Choice(list(PRESETS)), default=None,
                 help="Fill the options from a recipe (`rnn-tui presets`); options you give win over it."),
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
    click.option("--dropout", type=float, default=_D.dropout, show_default=True,
                 help="Concise models: on the embedding, between layers and before the output layer."),
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
    click.option("--weight-decay", type=float, default=_D.weight_decay, show_default=True,
                 help="adamw: decoupled weight decay; sgd, adam: an L2 penalty."),
    click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default=_D.lr_schedule, show_default=True,
                 help="Set per minibatch: cosine down to --lr-min; step: × --lr-decay at 1/2 and 3/4 of the run."),
    click.option("--warmup", type=int, default=_D.warmup, show_default=True,
                 help="Minibatches of linear warmup to --lr."),
    click.option("--lr-min", type=float, default=_D.lr_min, show_default=True, help="The schedule's floor."),
    click.option("--lr-decay", type=float, default=_D.lr_decay, show_default=True,
                 help="The step schedule's factor."),
    click.option("--epochs", type=int, default=_D.epochs, show_default=True),
    click.option("--max-time", type=Duration(), default=None,
                 help="Stop at the first epoch end past this much training (30m, 1h30m, 900); "
                      "a schedule is planned over it."),
    click.option("--patience", type=int, default=_D.patience, show_default=True,
                 help="Stop when validation loss has not improved for N epochs; 0 = never."),
    click.option("--eval-every", type=int, default=_D.eval_every, show_default=True,
                 help="Epochs between validations (the last is always validated)."),
    click.option("--eval", default=_D.eval, show_default=True, metavar="stateful|windows:N:L",
                 help="windows:N:L: also score the held-out text as nanoGPT does, N random windows of L "
                      "characters, the state reset for each (e.g. windows:200:256)."),
    click.option("--clip", type=float, default=_D.clip, show_default=True, help="Global-norm clip θ; 0 = off."),
    click.option("--device", default=_D.device, show_default=True, help="auto|cpu|cuda|cuda:N|mps"),
    click.option("--nproc", type=int, default=_D.nproc, show_default=True,
                 help="Train in N processes (torchrun, DDP; one GPU each on CUDA); --batch-size stays global."),
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


def train_params() -> list[click.Parameter]:
    """The training options as click parameters (what ``train_options`` adds to a command)."""
    return train_options(click.command()(lambda **_: None)).params


def config_from_options(options: dict, given: set[str] | None = None) -> TrainConfig:
    """A ``TrainConfig`` from parsed options (``None`` keeps the corpus-dependent defaults open).

    With ``--preset``, the preset's values replace the defaults; the options in ``given`` (typed by
    the user) win over the preset."""
    values = {k: v for k, v in options.items() if k in TrainConfig.__dataclass_fields__ and v is not None}
    if options.get("preset"):
        chosen = preset_values(options["preset"])
        values.update({k: v for k, v in chosen.items() if given is None or k not in given})
    config = TrainConfig(**values)  # a --corpus-file given wins over a preset's corpus: it is read first
    if values.get("prefix") is None:
        config.prefix = ""  # filled from the corpus once it is known
    return config
