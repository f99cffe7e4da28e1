"""prepare_run: a run's policy before its first minibatch (the corpus's defaults, what a resumed run may change)."""
import json
from pathlib import Path

import pytest

from rnn_tui.engine.checkpoint import load_checkpoint, save_checkpoint
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.session import RESUME_OVERRIDES, prepare_run
from rnn_tui.engine.trainer import TrainingInputError
from helpers import rnn_tui, tiny_config


def test_a_new_run_takes_the_corpus_defaults_it_was_not_given(timemachine_text):
    prepared = prepare_run(TrainConfig(corpus="timemachine", prefix=None, run_dir="r"))
    assert (prepared.config.preprocess, prepared.config.max_tokens, prepared.config.prefix) == \
        ("d2l", 10_000, "time traveller")
    assert prepared.resume_state is None and prepared.run.path == Path("r").absolute()  # printed paths paste anywhere


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
    assert prepared.ignored == ("hidden",)  # said, not silently dropped (rnn-tui train warns in one line)


def test_train_says_which_options_a_resumed_run_ignores(tmp_path):
    run = _trained(tmp_path)
    result = rnn_tui("train", "--resume", run, "--epochs", "3", "--lr", "0.5", "--hidden", "32")
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "--lr" in warning[0] and "--hidden" not in warning[0]  # 32 is what it has


def test_empty_corpus_file_and_a_vocabulary_of_nothing_are_refused(tmp_path):
    assert "corpus_file" in TrainConfig(corpus_file=" ").errors()
    with pytest.raises(TrainingInputError, match="--min-freq 100000 leaves no token but <unk>"):
        for _ in prepare_run(tiny_config(min_freq=100000, run_dir=str(tmp_path / "r"))).events():
            pass


def test_resuming_refuses_what_would_not_be_exact_or_has_nothing_left(tmp_path):
    run = _trained(tmp_path)
    with pytest.raises(TrainingInputError, match="already done 2 epochs; pass --epochs N with N above 2"):
        prepare_run(TrainConfig(), resume=run)
    state = load_checkpoint(run)
    state["config"]["corpus"] = "markov:length=6000,seed=1"  # the same kind of text, but another text
    save_checkpoint(state, f"{run}/checkpoint.pt")
    with pytest.raises(TrainingInputError, match="the corpus has changed"):
        prepare_run(TrainConfig(), resume=run, overrides={"epochs": 5})


def test_a_folder_that_holds_a_run_is_not_trained_into_again(tmp_path):
    run = _trained(tmp_path)
    config = tiny_config(corpus="markov:length=6000", preprocess=None, max_tokens=None, epochs=2, run_dir=run)
    with pytest.raises(TrainingInputError, match=f"{run} already holds a run: continue it with --resume {run}"):
        prepare_run(config)
    result = rnn_tui("train", "--corpus", "markov:length=6000", "--epochs", "1", "--run-dir", run)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


def test_resume_survives_a_damaged_metrics_line_and_refuses_a_checkpoint_that_contradicts_itself(tmp_path):
    run = _trained(tmp_path)
    with open(f"{run}/metrics.jsonl", "a") as metrics:
        metrics.write('{"epoch": 2, "train_perpl\n')  # a line cut short by a kill
    for _ in prepare_run(TrainConfig(), resume=run, overrides={"epochs": 3}).events():
        pass
    epochs = [json.loads(line)["epoch"] for line in open(f"{run}/metrics.jsonl")]
    assert epochs == [1, 2, 3]

    state = load_checkpoint(run)
    state["vocab"] = state["vocab"][:3]  # the weights say otherwise
    save_checkpoint({k: v for k, v in state.items() if k not in ("format", "version")}, f"{run}/checkpoint.pt")
    with pytest.raises(TrainingInputError, match="does not fit its own configuration"):
        for _ in prepare_run(TrainConfig(), resume=run, overrides={"epochs": 5}).events():
            pass


@pytest.mark.parametrize("name, value", [("hidden", 10**7), ("batch_size", 10**9), ("seed", 2**70), ("layers", 1000)])
def test_sizes_no_machine_allocates_are_refused_up_front(name, value):
    assert "at most" in TrainConfig(model="lstm", **{name: value}).errors()[name]
