import math
import threading

import pytest
import torch

from rnn_tui.engine.control import TrainControl
from rnn_tui.engine.generation import predict
from rnn_tui.engine.trainer import Trainer, TrainingInputError
from rnn_tui.engine.vocab import UNK_PLACEHOLDER
from helpers import pattern_text, run_events, skip_unless_bf16_trains, tiny_config


def epochs_of(events):
    return [e for e in events if e["event"] == "epoch"]


def test_event_sequence_and_fields():
    events = run_events(Trainer(tiny_config(sample_every=1), pattern_text()))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished"
    assert kinds.count("epoch") == 3 and kinds.count("sample") == 3
    epoch = epochs_of(events)[0]
    for key in ("epoch", "train_perplexity", "val_perplexity", "tokens_per_sec", "grad_norm", "elapsed_s", "eta_s"):
        assert key in epoch
    finished = events[-1]
    for key in ("train_perplexity", "val_perplexity", "tokens_per_sec", "device"):
        assert finished[key] is not None
    assert finished["status"] == "completed" and finished["device"] == "cpu"
    assert [s["prefix"] for s in finished["samples"]] == ["the "]


def test_short_run_on_generated_text_learns_far_below_vocab_size():
    config = tiny_config(epochs=12, hidden=64, optimizer="adam", lr=0.01)
    events = run_events(Trainer(config, pattern_text(8000)))
    start, last = events[0], epochs_of(events)[-1]
    assert last["val_perplexity"] < start["vocab_size"] / 4
    assert last["val_perplexity"] < 3.0


def test_same_seed_same_perplexities_and_other_seed_differs():
    def curve(seed):
        return [e["train_perplexity"] for e in epochs_of(run_events(Trainer(tiny_config(seed=seed), pattern_text())))]
    assert curve(3) == curve(3)
    assert curve(3) != curve(4)


@pytest.mark.parametrize("model", ["scratch-gru", "scratch-lstm", "rnn", "gru", "lstm"])
def test_every_model_trains(model):
    events = run_events(Trainer(tiny_config(model=model, epochs=2, layers=2 if model in ("rnn", "gru", "lstm") else 1,
                                            dropout=0.1 if model == "gru" else 0.0), pattern_text()))
    curve = [e["train_perplexity"] for e in epochs_of(events)]
    assert len(curve) == 2 and all(math.isfinite(p) for p in curve)


@pytest.mark.parametrize("model", ["rnn", "gru", "lstm"])
def test_bf16_autocast_trains_the_concise_models_in_bfloat16_with_float32_weights(model):
    skip_unless_bf16_trains(model)
    def run(autocast):
        trainer = Trainer(tiny_config(model=model, autocast=autocast, epochs=8, hidden=64, optimizer="adam", lr=0.01),
                          pattern_text(8000))
        return trainer, [e["val_perplexity"] for e in epochs_of(run_events(trainer))]
    trainer, bf16_curve = run("bf16")
    _, float32_curve = run("off")
    assert bf16_curve != float32_curve  # the forward really ran in bfloat16
    assert bf16_curve[-1] < 3.0 and bf16_curve[-1] < 1.1 * float32_curve[-1]  # and learns as well
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())
    assert trainer.checkpoint_state()["config"]["autocast"] == "bf16"


def test_autocast_is_refused_where_the_device_has_no_native_bfloat16(monkeypatch):
    from rnn_tui.engine import device as devices
    assert devices.autocast_problem(torch.device("cpu"), "bf16") is None  # no cell named: the CPU's probe is not asked
    assert devices.autocast_problem(torch.device("cuda", 0), "off") is None
    # no GPU is needed to check the rule: the capability and the name are what CUDA would report
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    assert "native bfloat16" in devices.autocast_problem(torch.device("cuda", 0), "bf16")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert devices.autocast_problem(torch.device("cuda", 0), "bf16") is None


def test_random_sampler_and_no_validation():
    events = run_events(Trainer(tiny_config(sampler="random", val_fraction=0.0), pattern_text()))
    assert all(e["val_perplexity"] is None for e in epochs_of(events))


def test_text_too_short_names_the_minimum():
    with pytest.raises(TrainingInputError, match=r"needs at least \d+ tokens"):
        list(Trainer(tiny_config(batch_size=32, num_steps=35), "tiny text").run())


def test_divergence_restores_last_good_weights():
    trainer = Trainer(tiny_config(epochs=4, lr=1e38, clip=0.0, optimizer="sgd"), pattern_text())
    events = run_events(trainer)
    diverged = [e for e in events if e["event"] == "diverged"]
    assert diverged, "lr 1e38 without clipping must overflow"
    assert diverged[0]["loss"] is None or diverged[0]["loss"] >= 700  # JSON has no NaN: null
    assert events[-1]["status"] == "diverged"
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.checkpoint_state()["epoch"] == diverged[0]["restored_epoch"]


def test_a_loss_whose_perplexity_overflows_is_a_divergence_and_every_event_is_strict_json():
    import json
    trainer = Trainer(tiny_config(epochs=3, lr=1e6, clip=0.0, optimizer="sgd"), pattern_text())
    events = run_events(trainer)
    assert events[-1]["status"] == "diverged"
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    for event in events:
        json.dumps(event, allow_nan=False)  # raises on NaN or Infinity


def test_stop_and_pause_from_another_thread_act_between_minibatches():
    control = TrainControl()
    trainer = Trainer(tiny_config(epochs=50), pattern_text(20000), control=control, progress_interval_s=0.0)
    seen = []
    for event in trainer.run():
        seen.append(event.to_dict()["event"])
        if seen.count("progress") == 2 and "paused" not in seen:
            control.pause()
            control.request_sample(prefix="cat")
            threading.Timer(0.3, control.resume).start()
        if "resumed" in seen and not control.stop_requested:
            control.request_stop()
    assert "paused" in seen and "resumed" in seen
    assert seen.index("paused") < seen.index("resumed")
    assert "sample" in seen
    assert seen[-1] == "finished" and seen.count("epoch") < 50


def test_generation_greedy_sampling_and_out_of_vocabulary_prefix():
    trainer = Trainer(tiny_config(epochs=4, optimizer="adam", lr=0.01), pattern_text())
    run_events(trainer)
    greedy = predict(trainer.model, trainer.vocab, "the ", 20)
    assert greedy.startswith("the ") and len(greedy) == 24
    assert predict(trainer.model, trainer.vocab, "the ", 20) == greedy
    hot = predict(trainer.model, trainer.vocab, "the ", 40, temperature=1.5, top_k=5, seed=1)
    assert hot == predict(trainer.model, trainer.vocab, "the ", 40, temperature=1.5, top_k=5, seed=1)
    weird = predict(trainer.model, trainer.vocab, "ZQ€ the", 10)  # never seen in training: <unk>, no KeyError
    assert weird.startswith("ZQ€ the") and len(weird) == len("ZQ€ the") + 10
    # A vocabulary capped so hard that <unk> is common: generated <unk> shows as a placeholder.
    capped = Trainer(tiny_config(epochs=2, max_vocab=3, optimizer="adam", lr=0.05), "xyz" * 800 + "the " * 600)
    run_events(capped)
    assert UNK_PLACEHOLDER in predict(capped.model, capped.vocab, "x", 30)


def test_a_few_epochs_on_the_time_machine(timemachine_text):
    config = tiny_config(preprocess="d2l", max_tokens=10000, hidden=128, batch_size=32, num_steps=35, epochs=5,
                         prefix="time traveller")
    events = run_events(Trainer(config, timemachine_text))
    assert events[0]["vocab_size"] == 28
    curve = [e["train_perplexity"] for e in epochs_of(events)]
    assert curve[-1] < curve[0] < 28
    assert events[-1]["samples"][0]["text"].startswith("time traveller")


def test_small_gru_reaches_the_markov_floor_within_3_percent():
    from rnn_tui.corpora import load_corpus
    corpus = load_corpus("markov:order=1,alphabet=8,length=40000,seed=0")
    config = tiny_config(model="gru", hidden=32, optimizer="adam", lr=0.01, batch_size=16, num_steps=16, epochs=2)
    events = run_events(Trainer(config, corpus.text, corpus.info()))
    assert events[0]["floor_perplexity"] == corpus.floor_perplexity
    last = epochs_of(events)[-1]["val_perplexity"]
    assert corpus.floor_perplexity * 0.97 < last < corpus.floor_perplexity * 1.03, (last, corpus.floor_perplexity)


def test_a_prefix_that_holds_no_token_is_refused_up_front_and_asked_for_later_is_only_told():
    with pytest.raises(TrainingInputError, match="--prefix '!!! ,,,' holds no token after d2l preprocessing"):
        run_events(Trainer(tiny_config(preprocess="d2l", tokens="word", prefix="!!! ,,,"), pattern_text()))
    control = TrainControl()
    control.request_sample(prefix="!?!")  # ctrl+g with such a prompt, while it trains
    events = run_events(Trainer(tiny_config(preprocess="d2l", tokens="word", prefix="the cat !!!", epochs=1),
                                pattern_text(), control=control))
    asked = [e for e in events if e["event"] == "sample" and e["on_demand"]]
    assert asked and asked[0]["text"].startswith("(no sample: the prefix '!?!' holds no token")
    assert events[-1]["status"] == "completed"
    assert [s["prefix"] for s in events[-1]["samples"]] == ["the cat !!!"]  # not its last "word", "!!!"
