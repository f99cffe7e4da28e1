import signal

import pytest
import torch

from rnn_tui.engine.bench.paths import Workload, train_tokens_per_sec
from rnn_tui.engine.bench.roofline import peak_rss_mib
from rnn_tui.engine.bench.timing_process import RNN_TUI, TEXTBOOK, TimingProcess


def tiny_workload() -> Workload:
    return Workload("tiny", torch.arange(400) % 7, vocab_size=7, hidden=8, batch_size=2, num_steps=5)


def test_both_processes_give_the_same_losses_and_errors_come_back_as_one_exception():
    work = tiny_workload()
    with TimingProcess(TEXTBOOK) as textbook, TimingProcess(RNN_TUI) as ours:
        speed, losses = textbook.call(train_tokens_per_sec, work, "textbook scratch-rnn", 3, "cpu")
        assert speed > 0 and len(losses) == 4
        assert ours.call(train_tokens_per_sec, work, "textbook scratch-rnn", 3, "cpu")[1] == losses
        with pytest.raises(RuntimeError, match="KeyError: 'no such path'"):
            ours.call(train_tokens_per_sec, work, "no such path", 3, "cpu")
        assert ours.call(peak_rss_mib) > 10  # the child still serves after an error


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown timing process"):
        TimingProcess("jemalloc")


def test_kill_ends_a_busy_child_at_once():
    timer = TimingProcess(TEXTBOOK)
    long_run = Workload("long", torch.arange(200_000) % 7, vocab_size=7, hidden=64, batch_size=2, num_steps=5)
    timer._connection.send((train_tokens_per_sec, (long_run, "textbook scratch-rnn", 10**6, "cpu")))  # minutes
    assert not timer._connection.poll(timeout=1) and timer._process.is_alive()  # busy: no answer within a second
    timer.kill()
    assert timer._process.exitcode == -signal.SIGKILL  # killed, not let finish (exit code 0)
