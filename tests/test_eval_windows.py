"""`--eval windows:N:L`: nanoGPT's measure (random windows, the state reset for each) beside the stateful pass."""
import json
import math

import pytest
import torch

from rnn_tui.engine import events as ev
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.models import model_for
from rnn_tui.engine.steps import evaluate_windows
from rnn_tui.engine.trainer import Trainer, TrainingInputError
from rnn_tui.tui.event_text import epoch_text
from helpers import pattern_text, tiny_config


@pytest.mark.parametrize("model", ["scratch-rnn", "lstm"])
def test_the_window_measure_is_the_mean_over_windows_each_read_from_a_fresh_state(model):
    torch.manual_seed(0)
    net = model_for(TrainConfig(model=model, hidden=16, device="cpu"), 7).eval()
    corpus = torch.randint(0, 7, (300,))
    starts, length = torch.tensor([0, 17, 50, 120, 3, 287]), 12
    by_hand = []  # each window's mean, one token at a time, each window from a fresh state
    with torch.no_grad():
        for start in starts.tolist():
            window, state, loss = corpus[start: start + length + 1], net.begin_state(1, "cpu"), 0.0
            for t in range(length):
                logits, state = net(window[None, t: t + 1], state)
                loss -= torch.log_softmax(logits[0].double(), dim=-1)[window[t + 1]].item()
            by_hand.append(loss / length)
    mean = sum(by_hand) / len(by_hand)
    error = math.sqrt(sum((x - mean) ** 2 for x in by_hand) / (len(by_hand) - 1) / len(by_hand))
    for batch_size in (1, 4, 64):  # however the windows are batched
        got, got_error = evaluate_windows(net, corpus, starts, length, batch_size)
        assert got == pytest.approx(mean, rel=1e-5) and got_error == pytest.approx(error, rel=1e-4)
    assert evaluate_windows(net, corpus, starts[:1], length, 4)[1] is None  # one window: no spread to tell


def test_a_run_reports_both_measures_each_epoch_in_nats_bits_and_perplexity():
    trainer = Trainer(tiny_config(epochs=2, eval="windows:20:16"), pattern_text(6000))
    epochs = [e for e in trainer.run() if isinstance(e, ev.Epoch)]
    assert len(epochs) == 2
    for epoch in epochs:
        assert epoch.val_loss is not None and epoch.val_loss_windows is not None
        assert epoch.val_loss_windows != epoch.val_loss  # two measures of one text, not one twice
        assert epoch.val_bpc_windows == pytest.approx(epoch.val_loss_windows / math.log(2))
        assert epoch.val_perplexity_windows == pytest.approx(math.exp(epoch.val_loss_windows))
        assert 0 < epoch.val_loss_windows_se < epoch.val_loss_windows  # the draw's spread, told beside the mean
        told = f"windows {epoch.val_loss_windows:.4f} ± {epoch.val_loss_windows_se:.4f} nats"
        assert told in epoch_text(epoch)  # the headless line and the dashboard's log
    same = Trainer(tiny_config(epochs=1, eval="windows:20:16"), pattern_text(6000))
    same._setup()
    assert torch.equal(same.eval_starts, trainer.eval_starts)  # the same windows from the same seed
    plain = [e for e in Trainer(tiny_config(epochs=1), pattern_text(6000)).run() if isinstance(e, ev.Epoch)]
    assert plain[0].val_loss_windows is None


def test_a_window_measure_that_cannot_run_is_refused_in_one_line():
    for bad in ("windows", "windows:0:16", "windows:10:1", "windows:a:b", "window:10:10", "windows:10:10:3"):
        assert "--eval must be stateful, or windows:N:L" in TrainConfig(eval=bad).first_error()
    with pytest.raises(TrainingInputError, match="the held-out text has"):
        list(Trainer(tiny_config(eval="windows:10:5000"), pattern_text(6000)).run())


def test_compare_shows_both_measures_in_nats_when_a_run_has_the_windows_one(tmp_path):
    from helpers import rnn_tui
    tiny = ["--corpus", "markov:length=6000", "--hidden", "16", "--epochs", "2", "--device", "cpu", "--sample-every", "0"]
    for name, extra in (("a", ["--eval", "windows:30:20"]), ("b", [])):
        assert rnn_tui("train", *tiny, *extra, "--run-dir", str(tmp_path / name)).returncode == 0
    shown = rnn_tui("compare", str(tmp_path / "a"), str(tmp_path / "b")).stdout
    stateful = next(line for line in shown.splitlines() if line.startswith("best val, stateful (nats)"))
    windows = next(line for line in shown.splitlines() if line.startswith("best val, windows (nats)"))
    assert len(stateful.split()) == 6 and windows.split()[-1] == "N/A" and windows.split()[-2] != "N/A"
    listed = {json.loads(line)["name"]: json.loads(line) for line in
              rnn_tui("runs", "--root", str(tmp_path), "--json").stdout.splitlines()}
    best = min(json.loads(line)["val_loss_windows"] for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines())
    assert (listed["a"]["best_val_loss_windows"], listed["b"]["best_val_loss_windows"]) == (best, None)
    table = rnn_tui("runs", "--root", str(tmp_path), "--wide").stdout
    assert "windows val" in table.splitlines()[0] and f"{math.exp(best):.3f}" in table
