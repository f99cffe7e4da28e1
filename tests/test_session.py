"""prepare_run: a run's policy before its first minibatch (the corpus's defaults, what a resumed run may change)."""
import pytest

from rnn_tui.engine.checkpoint import load_checkpoint, save_checkpoint
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.session import RESUME_OVERRIDES, prepare_run
from rnn_tui.engine.trainer import TrainingInputError
from helpers import tiny_config


def test_a_new_run_takes_the_corpus_defaults_it_was_not_given(timemachine_text):
    prepared = prepare_run(TrainConfig(corpus="timemachine", prefix="", run_dir="r"))
    assert (prepared.config.preprocess, prepared.config.max_tokens, prepared.config.prefix) == \
        ("d2l", 10_000, "time traveller")
    assert prepared.resume_state is None and str(prepared.run.path) == "r"


def test_bad_input_is_one_line(tmp_path):
    with pytest.raises(TrainingInputError, match="unknown corpus"):
        prepare_run(TrainConfig(corpus="nonesuch"))
    with pytest.raises(TrainingInputError, match="checkpoint not found"):
        prepare_run(TrainConfig(), resume=str(tmp_path / "nothing"))


def _trained(tmp_path, **overrides) -> str:
    config = tiny_config(corpus="markov:length=6000", preprocess=None, max_tokens=None, epochs=2,
                         run_dir=str(tmp_path / "run"), **overrides)
    for _ in prepare_run(config).events():
        pass
    return str(tmp_path / "run")


def test_a_resumed_run_keeps_its_checkpoints_config_but_for_what_may_change(tmp_path):
    run = _trained(tmp_path)
    prepared = prepare_run(TrainConfig(), resume=run, overrides={"epochs": 5, "hidden": 999, "kernels": "torch"})
    assert prepared.resume_state["epoch"] == 2 and str(prepared.run.path) == run
    assert prepared.config.epochs == 5 and prepared.config.kernels == "torch"  # in RESUME_OVERRIDES
    assert prepared.config.hidden == 32  # not: the checkpoint's weights are 32 wide
    assert "hidden" not in RESUME_OVERRIDES


def test_resuming_refuses_what_would_not_be_exact_or_has_nothing_left(tmp_path):
    run = _trained(tmp_path)
    with pytest.raises(TrainingInputError, match="already done 2 epochs; pass --epochs N with N above 2"):
        prepare_run(TrainConfig(), resume=run)
    state = load_checkpoint(run)
    state["config"]["corpus"] = "markov:length=6000,seed=1"  # the same kind of text, but another text
    save_checkpoint(state, f"{run}/checkpoint.pt")
    with pytest.raises(TrainingInputError, match="the corpus has changed"):
        prepare_run(TrainConfig(), resume=run, overrides={"epochs": 5})
