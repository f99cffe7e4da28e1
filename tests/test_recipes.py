"""Recipes: schedules, AdamW, best vs latest, patience, the time budget, presets, the field's metrics."""
import json
import math

import pytest
import torch
from click.testing import CliRunner

from rnn_tui.engine import trainer as trainer_module
from rnn_tui.engine.checkpoint import load_checkpoint, resolve_checkpoint
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.presets import PRESETS, preset_values
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.schedule import format_duration, learning_rate, parse_duration, planned_steps
from rnn_tui.engine.session import recorded_run
from rnn_tui.engine.trainer import Trainer
from rnn_tui.tui.cli import cli
from rnn_tui.tui.cli.options import config_from_options
from helpers import pattern_text, run_events, tiny_config


def epochs_of(events):
    return [e for e in events if e["event"] == "epoch"]


# -- schedules -------------------------------------------------------------------------------------
def test_warmup_rises_linearly_to_the_base_rate():
    assert [learning_rate(s, 100, 1.0, "constant", warmup=4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_cosine_falls_from_the_base_rate_to_the_floor_over_the_planned_steps():
    rates = [learning_rate(s, 110, 2.0, "cosine", warmup=10, lr_min=0.2) for s in range(110)]
    assert rates[9] == pytest.approx(2.0) and rates[10] == pytest.approx(2.0)
    assert rates[60] == pytest.approx(0.2 + 0.5 * 1.8 * (1 + math.cos(math.pi * 0.5)))  # half way: the middle
    assert learning_rate(110, 110, 2.0, "cosine", warmup=10, lr_min=0.2) == pytest.approx(0.2)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))


def test_step_decays_at_half_and_three_quarters_and_respects_the_floor():
    rate = lambda step, floor=0.0: learning_rate(step, 100, 1.0, "step", lr_min=floor, decay=0.1)  # noqa: E731
    assert [rate(49), rate(50), rate(74), rate(75)] == [1.0, pytest.approx(0.1), pytest.approx(0.1), pytest.approx(0.01)]
    assert rate(99, floor=0.05) == 0.05


def test_the_plan_follows_the_measured_speed_within_the_epochs_asked_for():
    assert planned_steps(1000, 0, 0.0, 60.0) == 1000                 # nothing measured yet
    assert planned_steps(1000, 100, 10.0, 60.0) == 600               # 0.1 s a step, 50 s left
    assert planned_steps(1000, 100, 10.0, 0.0) == 1000               # no budget
    assert planned_steps(400, 100, 10.0, 60.0) == 400                # never beyond the epochs
    assert planned_steps(1000, 100, 70.0, 60.0) == 100               # over budget: what is done


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("1h30m", 5400), ("1.5h", 5400),
                                           ("2h5m10s", 7510), (" 45S ", 45)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "30x", "-5", "1h-3m", "nan", "inf"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_reads_back():
    for seconds in (45, 1800, 5400, 7510):
        assert parse_duration(format_duration(seconds)) == seconds


# -- the trainer with them ------------------------------------------------------------------------------
def test_adamw_with_weight_decay_and_a_cosine_schedule_set_per_minibatch():
    config = tiny_config(model="lstm", input="embedding", optimizer="adamw", lr=0.01, weight_decay=0.05,
                         lr_schedule="cosine", warmup=3, lr_min=0.001, epochs=2)
    trainer = Trainer(config, pattern_text())
    events = run_events(trainer)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert trainer.optimizer.param_groups[0]["weight_decay"] == 0.05
    batches = events[0]["batches_per_epoch"]
    for epoch in epochs_of(events):
        last_step = epoch["epoch"] * batches - 1
        assert epoch["lr"] == pytest.approx(learning_rate(last_step, 2 * batches, 0.01, "cosine", 3, 0.001))
    assert 0.001 < epochs_of(events)[-1]["lr"] < 0.0011  # the last step: one short of the floor
    assert trainer.optimizer.param_groups[0]["lr"] == epochs_of(events)[-1]["lr"]


def test_the_default_sgd_is_untouched_by_the_schedule_machinery():
    trainer = Trainer(tiny_config(), pattern_text())
    events = run_events(trainer)
    assert type(trainer.optimizer) is torch.optim.SGD and trainer.optimizer.param_groups[0]["weight_decay"] == 0
    assert all(e["lr"] == 1.0 for e in epochs_of(events))


def test_every_epoch_reports_the_losses_in_nats_and_bits_and_validates_every_n_epochs():
    events = run_events(Trainer(tiny_config(epochs=5, eval_every=2), pattern_text()))
    epochs = epochs_of(events)
    assert [e["val_loss"] is not None for e in epochs] == [False, True, False, True, True]  # the last always
    for e in epochs:
        assert e["train_perplexity"] == pytest.approx(math.exp(e["train_loss"]))
        if e["val_loss"] is not None:
            assert e["val_perplexity"] == pytest.approx(math.exp(e["val_loss"]))
            assert e["val_bpc"] == pytest.approx(e["val_loss"] / math.log(2))
            assert e["eval_s"] > 0
        else:
            assert e["val_perplexity"] is None and e["val_bpc"] is None and e["eval_s"] == 0


def test_the_scratch_models_refuse_dropout_and_layers_instead_of_ignoring_them():
    assert "dropout" in TrainConfig(model="scratch-rnn", dropout=0.2).errors()
    assert "layers" in TrainConfig(model="scratch-gru", layers=2).errors()
    assert TrainConfig(model="lstm", layers=2, dropout=0.2).errors() == {}


def test_an_embedding_width_is_refused_where_there_is_no_embedding():
    assert TrainConfig(model="lstm", embedding_dim=64).first_error() == \
        "--embedding-dim is for --input embedding only"
    assert TrainConfig(model="lstm", input="embedding", embedding_dim=64).errors() == {}


def test_embedding_dropout_acts_in_training_only():
    from rnn_tui.engine.models import build_model
    torch.manual_seed(0)
    model = build_model("lstm", 20, 16, dropout=0.5, input_kind="embedding")
    X = torch.randint(0, 20, (2, 5))
    state = model.begin_state(2)
    model.eval()
    assert torch.equal(model(X, state)[0], model(X, state)[0])
    model.train()
    assert not torch.equal(model(X, state)[0], model(X, state)[0])


# -- best and latest, patience ---------------------------------------------------------------------------
@pytest.fixture
def scripted_val_losses(monkeypatch):
    """Validation losses the test chooses: the logic of best and patience, not the luck of training."""
    def script(losses):
        values = iter(losses)
        monkeypatch.setattr(trainer_module, "evaluate_loss", lambda *args, **kwargs: next(values))
    return script


def test_best_checkpoint_patience_and_generate_picks_the_best(tmp_path, scripted_val_losses):
    scripted_val_losses([2.0, 1.5, 1.7, 1.8, 1.9, 1.9])
    run = RunDir(tmp_path / "run")
    trainer = Trainer(tiny_config(epochs=6, patience=2), pattern_text())
    events = [e.to_dict() for e in recorded_run(trainer, run)]
    epochs = epochs_of(events)
    assert [e["best_epoch"] for e in epochs] == [1, 2, 2, 2]
    finished = events[-1]
    assert finished["status"] == "early-stopped" and finished["epoch"] == 4
    assert "2 epochs" in finished["reason"] and finished["best_epoch"] == 2 and finished["best_val_loss"] == 1.5
    assert load_checkpoint(run.best_path)["epoch"] == 2 and load_checkpoint(run.checkpoint_path)["epoch"] == 4
    assert finished["best_checkpoint"] == str(run.best_path)
    assert resolve_checkpoint(run.path, "best") == run.best_path
    assert resolve_checkpoint(run.path) == run.checkpoint_path
    best = torch.load(run.best_path, weights_only=True)["model_state"]
    latest = torch.load(run.checkpoint_path, weights_only=True)["model_state"]
    assert any(not torch.equal(best[k], latest[k]) for k in best)

    runner = CliRunner()
    generated = {which: runner.invoke(cli, ["generate", str(run.path), "--length", "30", *which]).output
                 for which in ((), ("--checkpoint", "latest"))}
    assert generated[()] == runner.invoke(cli, ["generate", str(run.best_path), "--length", "30"]).output
    assert generated[("--checkpoint", "latest")] == runner.invoke(
        cli, ["generate", str(run.checkpoint_path), "--length", "30"]).output


def test_a_run_without_validation_has_no_best_and_generate_falls_back_to_the_latest(tmp_path):
    run = RunDir(tmp_path / "run")
    list(recorded_run(Trainer(tiny_config(epochs=1, val_fraction=0.0), pattern_text()), run))
    assert not run.best_path.exists()
    assert resolve_checkpoint(run.path, "best") == run.checkpoint_path
    assert "patience" in TrainConfig(val_fraction=0.0, patience=3).errors()


def test_a_scheduled_run_resumes_exactly(tmp_path):
    config = tiny_config(model="gru", optimizer="adamw", lr=0.02, weight_decay=0.01, lr_schedule="cosine", warmup=5,
                         epochs=4)
    whole = epochs_of([e.to_dict() for e in recorded_run(Trainer(config, pattern_text()), RunDir(tmp_path / "whole"))])
    first = RunDir(tmp_path / "halves")
    stopped = Trainer(TrainConfig.from_dict(config.to_dict()), pattern_text())
    for event in recorded_run(stopped, first):
        if event.event == "epoch" and event.epoch == 2:
            stopped.control.request_stop()
    state = load_checkpoint(first.path)
    assert state["epoch"] == 2
    resumed = epochs_of([e.to_dict() for e in recorded_run(
        Trainer(TrainConfig.from_dict(state["config"]), pattern_text(), resume=state), first, resumed=True)])
    assert [e["train_loss"] for e in resumed] == [e["train_loss"] for e in whole[2:]]
    assert [e["lr"] for e in resumed] == [e["lr"] for e in whole[2:]]


# -- presets -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_a_valid_configuration(name):
    config = TrainConfig(**preset_values(name))
    assert config.errors() == {} and config.preset == name


def test_options_given_win_over_the_preset_and_the_preset_over_the_defaults():
    defaults = {"hidden": 512, "epochs": 500, "sampler": "sequential", "lr": 1.0, "preset": "d2l-concise"}
    config = config_from_options({**defaults, "epochs": 3}, given={"epochs", "preset"})
    assert (config.model, config.hidden, config.epochs, config.corpus) == ("rnn", 256, 3, "timemachine")
    assert config_from_options({**defaults, "hidden": 512}, given={"hidden", "preset"}).hidden == 512


def test_train_with_a_preset_records_what_was_used(tmp_path):
    result = CliRunner().invoke(cli, ["train", "--preset", "d2l-random", "--corpus", "markov:length=4000",
                                      "--hidden", "16", "--epochs", "1", "--device", "cpu", "--sample-every", "0",
                                      "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["preset"], saved["sampler"], saved["hidden"], saved["corpus"]) == ("d2l-random", "random", 16,
                                                                                     "markov:length=4000")


def test_presets_are_listed_and_an_unknown_one_is_one_line():
    runner = CliRunner()
    listing = runner.invoke(cli, ["presets"]).output
    assert all(name in listing for name in PRESETS) and "--lr-schedule cosine" in listing
    assert set(json.loads(runner.invoke(cli, ["presets", "--json"]).output)) == set(PRESETS)
    bad = runner.invoke(cli, ["train", "--preset", "nope"])
    assert bad.exit_code == 2 and "nope" in bad.output
