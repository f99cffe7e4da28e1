"""Each option is declared once (engine/knob.py): the command line, the form, the checks and the resume
rules are made from that declaration, and agree with it."""
from dataclasses import fields

import click
import pytest

from rnn_tui.engine.config import RESUME_OVERRIDES, TrainConfig
from rnn_tui.engine.knob import knob_of, knobs, value_kind
from rnn_tui.engine.presets import PRESETS
from rnn_tui.tui.cli.options import train_params
from rnn_tui.tui.run_on_screen import RunOnScreen
from rnn_tui.tui.widgets.config_form import FIELDS, NO_PRESET


def test_every_field_is_an_option_of_train_with_its_declared_default_and_choices():
    params = {param.name: param for param in train_params()}
    assert set(params) == {spec.name for spec in fields(TrainConfig)} | {"resume"}
    for spec, declared in knobs(TrainConfig):
        param = params[spec.name]
        assert param.opts == [f"--{spec.name.replace('_', '-')}"]
        corpus_decides = declared.shown_default is not None or spec.default is None
        assert param.default == (None if corpus_decides else spec.default), spec.name
        if isinstance(param.type, click.Choice):
            assert tuple(param.type.choices) == (tuple(PRESETS) if spec.name == "preset" else declared.choices)
        else:
            assert declared.choices is None, spec.name


def test_the_form_has_a_row_for_each_field_declared_with_a_label_in_declaration_order():
    labelled = [spec.name for spec, declared in knobs(TrainConfig) if declared.label]
    assert [name for name, _label, _choices in FIELDS] == labelled
    assert FIELDS[0] == ("preset", knob_of(fields(TrainConfig)[0]).label, (NO_PRESET, *PRESETS))
    assert dict((name, choices) for name, _label, choices in FIELDS)["model"] == knob_of(
        next(spec for spec in fields(TrainConfig) if spec.name == "model")).choices


def test_what_a_resumed_run_may_change_is_what_is_declared_resumable():
    assert RESUME_OVERRIDES == tuple(spec.name for spec, declared in knobs(TrainConfig) if declared.resumable)
    assert {"epochs", "device", "max_time", "prefix"} <= set(RESUME_OVERRIDES)
    assert not {"hidden", "lr", "model", "seed"} & set(RESUME_OVERRIDES)  # they would not resume exactly


@pytest.mark.parametrize("spec, declared", [(spec, declared) for spec, declared in knobs(TrainConfig)
                                            if declared.at_least is not None or declared.above is not None],
                         ids=lambda item: getattr(item, "name", ""))
def test_a_declared_range_refuses_just_outside_it_and_takes_its_edge(spec, declared):
    whole = value_kind(spec.type) == "int"
    edge = declared.at_least if declared.at_least is not None else declared.above + (1 if whole else 1e-6)
    edge = int(edge) if whole else edge
    below = edge - 1 if whole else (edge - 1e-3 if declared.above is None else declared.above)
    # another field may ask more of this one (a scratch model: one layer); the concise lstm asks least
    base = {"model": "lstm", "val_fraction": 0.1, "batch_size": 1024}
    assert spec.name not in TrainConfig(**{**base, spec.name: edge}).errors(), (spec.name, edge)
    assert spec.name in TrainConfig(**{**base, spec.name: below}).errors(), (spec.name, below)
    if declared.at_most is not None:
        assert spec.name in TrainConfig(**{**base, spec.name: declared.at_most * 2}).errors()


def test_a_declared_choice_refuses_what_it_does_not_list():
    for spec, declared in knobs(TrainConfig):
        if declared.choices:
            problem = TrainConfig(**{spec.name: "nosuch"}).errors().get(spec.name, "")
            assert problem.startswith("must be one of"), spec.name


def test_the_run_keys_follow_the_state_on_screen():
    idle = RunOnScreen()
    assert idle.allows("start") and not any(idle.allows(a) for a in ("pause", "resume", "stop", "save", "detach",
                                                                       "sample"))
    training = RunOnScreen().following(link=type("Link", (), {"path": "runs/x"})())
    assert training.training and training.run_dir == "runs/x"
    assert [a for a in ("start", "pause", "resume") if training.allows(a)] == ["pause"]
    paused = training.but(paused=True)
    assert [a for a in ("start", "pause", "resume") if paused.allows(a)] == ["resume"]
    finished = training.but(finished=True)  # closing its files: not training, its checkpoint samples
    assert finished.allows("start") and finished.allows("sample") and not finished.allows("stop")
    assert not finished.but(launching=True).allows("start")


def test_the_corpus_decides_what_is_not_given_and_is_none_until_then():
    from rnn_tui.tui.cli.options import config_from_options
    config = config_from_options({"preprocess": None, "max_tokens": None, "prefix": None})
    assert (config.preprocess, config.max_tokens, config.prefix) == (None, None, None)
    assert config.first_error_before_corpus() is None  # the corpus fills them once it is read
    assert TrainConfig(prefix="").first_error_before_corpus() == "--prefix must not be empty"  # given: a prompt
    assert config_from_options({"prefix": "the "}).prefix == "the "
