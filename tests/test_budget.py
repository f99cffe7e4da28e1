"""--max-time is a budget: the run ends at the first minibatch past it, checkpoints there, resumes from there.

The bound is asserted on a clock the test owns (each minibatch costs one second of it), so what is
checked is where the run stops, never how fast this machine is."""
import json
import math

import pytest
import torch

from rnn_tui.engine import trainer as trainer_module
from rnn_tui.engine.checkpoint import load_checkpoint
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.schedule import learning_rate
from rnn_tui.engine.session import prepare_run, recorded_run
from rnn_tui.engine.trainer import Trainer, TrainingInputError
from helpers import pattern_text, rnn_tui, run_events, tiny_config

MINIBATCH_S = 1.0  # what one minibatch costs on the test's clock


@pytest.fixture
def test_clock(monkeypatch):
    """A clock that only minibatches move: validation and everything else take no time on it."""
    now = [0.0]
    real_step = trainer_module.train_minibatch

    def timed_step(*args, **kwargs):
        now[0] += MINIBATCH_S
        return real_step(*args, **kwargs)
    monkeypatch.setattr(trainer_module, "train_minibatch", timed_step)
    return lambda: now[0]


def batches_per_epoch(config: TrainConfig) -> int:
    return next(Trainer(config, pattern_text()).run()).batches_per_epoch


def events_of(trainer, run=None):
    return [e.to_dict() for e in (recorded_run(trainer, run) if run else trainer.run())]


def test_the_budget_ends_at_the_first_minibatch_past_it_and_the_schedule_plans_over_it(test_clock):
    config = tiny_config(epochs=50, optimizer="adam", lr=0.01, lr_schedule="cosine")
    batches = batches_per_epoch(config)
    config.max_time = 2.5 * batches + 0.5  # mid-epoch 3, between two minibatches
    events = run_events(Trainer(config, pattern_text(), clock=test_clock))
    epochs, finished = [e for e in events if e["event"] == "epoch"], events[-1]
    assert [(e["epoch"], e["batch"]) for e in epochs] == [(1, batches), (2, batches), (3, batches // 2 + 1)]
    assert all(e["batches"] == batches for e in epochs)
    assert finished["status"] == "time-up" and "of epoch 3" in finished["reason"]
    assert finished["epoch"] == 2  # epochs done: the third is the checkpoint's minibatches underway
    # the bound: the budget, plus the minibatch under way when it ran out, plus one validation (free here)
    assert config.max_time <= finished["elapsed_s"] <= config.max_time + MINIBATCH_S
    assert epochs[-1]["val_loss"] is not None  # the cut epoch is validated
    assert epochs[0]["eta_s"] == pytest.approx(config.max_time - batches)  # the budget left, not 49 more epochs
    # re-planned from the first minibatches on, over the 2.5 epochs the budget holds
    planned = int(config.max_time / MINIBATCH_S)
    assert epochs[0]["lr"] == pytest.approx(learning_rate(batches - 1, planned, 0.01, "cosine"))
    assert epochs[1]["lr"] == pytest.approx(learning_rate(2 * batches - 1, planned, 0.01, "cosine"))


@pytest.mark.parametrize("sampler", ["sequential", "random"])
def test_a_run_the_budget_cut_mid_epoch_resumes_exactly_from_that_minibatch(tmp_path, test_clock, sampler):
    # two layers with dropout: the torch RNG, the sampler's RNG and (sequential) the carried state all matter
    config = tiny_config(model="lstm", layers=2, dropout=0.2, optimizer="adam", lr=0.01, epochs=2, sampler=sampler)
    whole = events_of(Trainer(TrainConfig.from_dict(config.to_dict()), pattern_text()), RunDir(tmp_path / "whole"))
    batches = whole[0]["batches_per_epoch"]

    cut = RunDir(tmp_path / "cut")
    budget = TrainConfig.from_dict({**config.to_dict(), "max_time": batches // 3 + 0.5})
    first = events_of(Trainer(budget, pattern_text(), clock=test_clock), cut)
    saved = load_checkpoint(cut.path)
    assert first[-1]["status"] == "time-up"
    assert (saved["epoch"], saved["underway"]["batch"]) == (0, batches // 3 + 1)
    assert [e for e in first if e["event"] == "checkpoint"][-1]["batch"] == batches // 3 + 1
    assert (saved["underway"]["state"] is not None) == (sampler == "sequential")

    resumed = prepare_run(TrainConfig(), resume=str(cut.path), overrides={"max_time": 0.0})
    rest = events_of(Trainer(resumed.config, pattern_text(), resume=resumed.resume_state))
    whole_epochs = [e for e in whole if e["event"] == "epoch"]
    rest_epochs = [e for e in rest if e["event"] == "epoch"]
    assert [(e["epoch"], e["train_loss"], e["grad_norm"]) for e in rest_epochs] == \
           [(e["epoch"], e["train_loss"], e["grad_norm"]) for e in whole_epochs]
    assert [e["val_loss"] for e in rest_epochs] == [e["val_loss"] for e in whole_epochs]


def test_a_budget_already_spent_is_refused_in_one_line(tmp_path, test_clock):
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=5, max_time=3.5)
    events_of(Trainer(config, pattern_text(), clock=test_clock), run)
    with pytest.raises(TrainingInputError, match="already trained for .* all of --max-time"):
        prepare_run(TrainConfig(), resume=str(run.path))


def test_train_with_max_time_stops_mid_epoch_checkpoints_and_goes_on_from_there(tmp_path):
    run = tmp_path / "run"
    common = ["--device", "cpu", "--sample-every", "0", "--json"]
    # an epoch of a 512-unit LSTM over 400k tokens: far more than the second it is given, on any CPU
    cut = rnn_tui("train", "--corpus", "markov:length=400000", "--model", "lstm", "--hidden", "512",
                  "--batch-size", "32", "--num-steps", "64", "--epochs", "2", "--max-time", "1s",
                  "--run-dir", str(run), *common)
    assert cut.returncode == 0, cut.stderr
    events = [json.loads(line) for line in cut.stdout.splitlines()]
    epoch, finished = [e for e in events if e["event"] == "epoch"][-1], events[-1]
    assert finished["status"] == "time-up" and epoch["batch"] < epoch["batches"]
    assert finished["best_checkpoint"] and finished["checkpoint"]
    saved = load_checkpoint(run)
    first_cut, spent = saved["underway"]["batch"], saved["elapsed_s"]
    on = rnn_tui("train", "--resume", str(run), "--max-time", f"{math.ceil(spent) + 1}s", *common)  # a second more
    assert on.returncode == 0, on.stderr
    assert json.loads(on.stdout.splitlines()[-1])["status"] == "time-up"
    assert load_checkpoint(run)["underway"]["batch"] > first_cut
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1]  # the second cut of epoch 1 replaced the first


async def test_the_chart_draws_an_epoch_the_budget_cut_short_at_the_fraction_it_trained():
    from textual.app import App
    from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart

    class ChartOnly(App):
        def compose(self):
            yield PerplexityChart()
    app = ChartOnly()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(PerplexityChart)
        chart.reset(floor=3.0, total_epochs=3, history=[
            {"epoch": 1, "train_perplexity": 6.0, "val_perplexity": 5.0, "batch": 30, "batches": 100}])
        await pilot.pause(0.3)
        assert chart.epochs == [pytest.approx(0.3)]
        assert "epoch" in app.export_screenshot() and app.is_running  # plotext failed on a point below 1


def test_a_damaged_cut_epoch_in_a_checkpoint_is_refused_in_one_line(tmp_path, test_clock):
    from rnn_tui.engine.checkpoint import save_checkpoint
    run = RunDir(tmp_path / "run")
    config = tiny_config(epochs=2, sampler="sequential")
    config.max_time = batches_per_epoch(config) // 2 + 0.5
    events_of(Trainer(config, pattern_text(), clock=test_clock), run)
    saved = load_checkpoint(run.path)
    damages = {"rng": {"rng_at_start": [1, 2]}, "batch": {"batch": 10 ** 6},
               "state": {"state": (torch.zeros(3, 5),)}}
    for name, damage in damages.items():
        state = {**saved, "underway": {**saved["underway"], **damage}}
        state.pop("format"), state.pop("version")
        save_checkpoint(state, run.checkpoint_path)
        resumed = prepare_run(TrainConfig(), resume=str(run.path), overrides={"max_time": 0.0})
        with pytest.raises(TrainingInputError, match="not a checkpoint this run can resume"):
            list(Trainer(resumed.config, pattern_text(), resume=resumed.resume_state).run())
