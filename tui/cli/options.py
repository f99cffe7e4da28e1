"""The training options shared by ``rnn-tui`` (to pre-fill the form) and ``rnn-tui train``.

Each is made from its ``TrainConfig`` field's declaration (engine/knob.py); option names are a
contract (scripts use them): ``--name`` ↔ ``TrainConfig.name``.
Kept free of torch and Textual so ``rnn-tui --help`` starts instantly.
"""
from __future__ import annotations

from dataclasses import Field

import click

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.knob import Knob, knobs, value_type
from rnn_tui.engine.presets import PRESETS, preset_values
from rnn_tui.engine.schedule import parse_duration

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


_CHOICES = {"preset": tuple(PRESETS)}  # the presets' registry is where that option's choices are declared


def option_for(spec: Field, declared: Knob):
    """The click option of one ``TrainConfig`` field, from its declaration (engine/knob.py)."""
    choices = _CHOICES.get(spec.name, declared.choices)
    if choices:
        kind = click.Choice(choices)
    elif declared.kind == "duration":
        kind = Duration()
    elif declared.kind == "path":
        kind = click.Path()
    else:
        kind = value_type(spec.type)
    corpus_decides = declared.shown_default is not None or spec.default is None  # None: the corpus's, or a preset's
    help_text = declared.help + (f" [default: {declared.shown_default}]" if declared.shown_default else "")
    return click.option(f"--{spec.name.replace('_', '-')}", spec.name, type=kind,
                        default=None if corpus_decides else spec.default, show_default=not corpus_decides,
                        envvar=declared.envvar, show_envvar=declared.envvar is not None,
                        metavar=declared.metavar, help=help_text.strip() or None)


_OPTIONS = {spec.name: option_for(spec, declared) for spec, declared in knobs(TrainConfig)}
kernels_option = _OPTIONS["kernels"]  # also an option of `generate` and `bench`
TRAIN_OPTIONS = [*_OPTIONS.values(), click.option(
    "--resume", type=click.Path(), default=None,
    help="Continue a checkpoint or run folder (its config; --epochs may extend it).")]


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
        config.prefix = None  # the corpus's, filled once it is read
    return config
