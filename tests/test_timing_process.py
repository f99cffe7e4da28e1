import pytest
import torch

from engine.bench import Workload
from engine.timing_process import RNN_TUI, SEEDS, TimingProcess


def tiny_workload() -> Workload:
    return Workload("tiny", torch.arange(400) % 7, vocab_size=7, hidden=8, batch_size=2, num_steps=5)


def test_both_processes_give_the_same_losses_and_errors_come_back_as_one_exception():
    work = tiny_workload()
    with TimingProcess(SEEDS) as seeds, TimingProcess(RNN_TUI) as ours:
        speed, losses = seeds.train_tokens_per_sec(work, "textbook scratch-rnn", 3, "cpu")
        assert speed > 0 and len(losses) == 4
        assert ours.train_tokens_per_sec(work, "textbook scratch-rnn", 3, "cpu")[1] == losses
        with pytest.raises(RuntimeError, match="KeyError: 'no such path'"):
            ours.train_tokens_per_sec(work, "no such path", 3, "cpu")
        assert ours.peak_rss_mib() > 10  # the child still serves after an error


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown timing process"):
        TimingProcess("jemalloc")


def test_kill_ends_a_busy_child_at_once():
    timer = TimingProcess(SEEDS)
    long_run = Workload("long", torch.arange(200_000) % 7, vocab_size=7, hidden=64, batch_size=2, num_steps=5)
    timer._connection.send((long_run, "textbook scratch-rnn", 10**6, "cpu"))  # ~20,000 minibatches: minutes
    timer.kill()
    assert not timer._process.is_alive()
