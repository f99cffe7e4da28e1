"""Dashboards on runs they did not start, or that outlived them: tmux as a user's terminal, and Pilot."""
import json
import os
import re
import shlex
import shutil
import socket
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.engine.watch import run_info
from rnn_tui.tui.app import RnnTuiApp
from rnn_tui.tui.screens import NextRun, QuitWhileTraining
from rnn_tui.tui.widgets.config_form import ConfigForm
from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart
from helpers import LONGER, SMALL, detach, epochs_done, rnn_tui, status_of, wait_for, wait_until

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """A tmux session of 80x24 running one command, as a user's SSH terminal would."""

    def __init__(self, folder: Path, *args: str):
        self.name = f"rnn-tui-test-{time.time_ns()}"
        # a tmux server of its own, started with this test's environment (a user's server has the user's)
        self.tmux = ["tmux", "-L", self.name]
        command = f"cd {shlex.quote(str(folder))} && {shlex.join(rnn_tui_command(*args))}; sleep 60"
        subprocess.run([*self.tmux, "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24", command], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-J", "-t", self.name],  # -J: wrapped lines as one
                              capture_output=True, text=True).stdout

    def shows(self, text: str, timeout: float = 60, progress=None) -> str:
        """The screen once it shows ``text`` (a regular expression); ``progress``: as for ``wait_for``."""
        return wait_for(lambda: re.search(text, screen := self.screen()) and screen, timeout, f"{text!r} on screen",
                        progress)

    def press(self, key: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, key], check=True)

    def kill(self) -> None:  # what a dropped SSH link does to the terminal
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


@pytest.fixture
def terminals():
    opened: list[Terminal] = []
    yield lambda *args, **kwargs: opened.append(Terminal(*args, **kwargs)) or opened[-1]
    for terminal in opened:
        terminal.kill()


@needs_tmux
def test_a_dashboard_run_survives_its_terminal_and_attach_shows_all_of_it(tmp_path, terminals):
    first = terminals(tmp_path, *SMALL, "--epochs", "40", "--start")  # enough that it is paused before its end
    run = wait_for(lambda: next(iter((tmp_path / "runs").glob("*")), None) if (tmp_path / "runs").is_dir() else None,
                   what="the run folder")
    wait_for(lambda: epochs_done(run) >= 2, what="two epochs")
    first.kill()
    paused = rnn_tui("control", str(run), "pause")  # the terminal is gone; the run is not
    assert paused.returncode == 0, paused.stderr
    done = epochs_done(run)
    assert 2 <= done < 40

    second = terminals(tmp_path, "attach")  # no argument: the latest live run under ./runs
    screen = second.shows(rf"attached \(live\): {done} epochs so far")
    assert "paused at epoch" in screen and "perplexity" in screen
    second.press("C-t")  # the keys of an attached dashboard act on the run
    second.shows("completed: epoch 40/40", timeout=60, progress=lambda: epochs_done(run))  # as long as it takes
    second.shows("final:")
    assert epochs_done(run) == 40 and run_info(run).outcome == "completed"


@needs_tmux
def test_two_dashboards_on_one_run_both_see_a_stop_from_either(tmp_path, terminals):
    run = tmp_path / "run"
    detach(run, *LONGER, "--epochs", "500")
    first, second = terminals(tmp_path, "attach", str(run)), terminals(tmp_path, "attach", str(run))
    for terminal in (first, second):
        terminal.shows(r"epoch ([3-9]|\d\d+)/500", timeout=120)  # both follow it live
    second.press("C-o")
    for terminal in (first, second):
        terminal.shows("stopped: epoch")
        terminal.shows("stopped; checkpoint of epoch")
    assert run_info(run).outcome == "stopped" and (run / "checkpoint.pt").exists()


@needs_tmux
def test_ctrl_d_detaches_and_says_how_to_attach_again(tmp_path, terminals):
    terminal = terminals(tmp_path, *SMALL, "--epochs", "500", "--start")
    terminal.shows(r"epoch ([2-9]|\d\d+)/500", timeout=120)
    terminal.press("C-d")
    screen = terminal.shows("attach again:")
    run = next((tmp_path / "runs").glob("*"))
    assert f"rnn-tui attach {run}" in screen  # absolute: it can be pasted in any folder
    assert run_info(run).state == "live"
    assert rnn_tui("control", str(run), "stop").returncode == 0


async def test_a_gone_run_is_told_as_gone_and_ctrl_r_resumes_it_from_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    detach(run, *SMALL, "--epochs", "500")
    wait_for(lambda: epochs_done(run) >= 2, what="two epochs")
    os.kill(run_info(run).pid, signal.SIGKILL)
    wait_for(lambda: run_info(run).state == "gone", what="the run to be gone")
    app = RnnTuiApp(attach=str(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: status_of(app).startswith("gone"))
        # killed between two writes, its log may hold an epoch its status.json does not: the log is what is drawn
        logged = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        done = max(e["epoch"] for e in logged if e["event"] == "epoch")
        epoch = max(e["epoch"] for e in logged if e["event"] == "checkpoint")  # it may not have saved the epoch it had just done
        assert f"resumes from its last checkpoint, epoch {epoch}" in status_of(app)
        assert app.query_one(PerplexityChart).epochs == list(range(1, done + 1))
        form = app.query_one(ConfigForm)
        assert form.query_one("#field-epochs").value == "500"  # the run's own configuration
        form.query_one("#field-epochs").value = str(epoch + 2)
        await pilot.press("ctrl+r")  # asked: train it on (r), or a new run
        await wait_until(pilot, lambda: isinstance(app.screen, NextRun))
        await pilot.press("r")
        await wait_until(pilot, lambda: status_of(app).startswith(f"completed: epoch {epoch + 2}/{epoch + 2}"))
        assert app.query_one(PerplexityChart).epochs == list(range(1, epoch + 3))
    assert run_info(run).outcome == "completed"


async def test_quitting_while_a_run_trains_asks_stop_leave_or_stay(tmp_path):
    run = tmp_path / "run"
    detach(run, *SMALL, "--epochs", "500")
    app = RnnTuiApp(attach=str(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.query_one(PerplexityChart).epochs)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, QuitWhileTraining))
        await pilot.press("escape")  # stay
        await wait_until(pilot, lambda: not isinstance(app.screen, QuitWhileTraining))
        assert app.is_running
        await pilot.press("ctrl+q", "d")  # leave it training
        await wait_until(pilot, lambda: not app.is_running)
    assert app.state.detached and run_info(run).state == "live"

    app = RnnTuiApp(attach=str(run))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.live and app.query_one(PerplexityChart).epochs)
        await pilot.press("ctrl+q", "s")  # stop it, then quit
        await wait_until(pilot, lambda: not app.is_running)
    assert not app.state.detached and run_info(run).outcome == "stopped" and (run / "checkpoint.pt").exists()


async def test_a_resumed_run_shows_as_live_whatever_its_earlier_part_ended_with(tmp_path):
    """events.jsonl keeps a resumed run's earlier end; attaching after it must still steer the run."""
    import psutil
    from rnn_tui.engine import events as ev
    from rnn_tui.engine.runs import RunDir
    run = RunDir(tmp_path / "run")
    run.create({"epochs": 3})
    start = dict(config={"model": "scratch-rnn", "epochs": 3}, vocab_size=3, corpus={"name": "t"}, device="cpu",
                 num_parameters=1, batches_per_epoch=1)
    epoch = dict(epochs=3, train_perplexity=2.0, val_perplexity=None, tokens_per_sec=1.0, grad_norm=1.0,
                 elapsed_s=1.0, eta_s=1.0, train_loss=0.7)
    for event in (ev.Start(**start), ev.Epoch(epoch=1, **epoch), ev.Paused(epoch=2, batch=0),
                  ev.Finished(status="stopped", epoch=1, train_perplexity=2.0, val_perplexity=None,
                              tokens_per_sec=1.0, device="cpu", elapsed_s=1.0),
                  ev.Start(**start, start_epoch=1), ev.Epoch(epoch=2, **epoch)):
        run.append_event(event.to_dict())
    me = psutil.Process()  # this process stands in for the resumed run's
    run.write_status({"pid": me.pid, "host": socket.gethostname(), "process_started": me.create_time(),
                      "state": "training", "epoch": 2, "epochs": 3})
    app = RnnTuiApp(attach=str(run.path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.query_one(PerplexityChart).epochs == [1, 2])
        assert app.state.live and not app.state.finished and not app.state.paused
        assert app.state.training
