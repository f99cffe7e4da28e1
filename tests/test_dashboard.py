"""The dashboard, driven as a user would: Pilot tests, snapshots at 80x24 and 120x40, tmux end to end."""
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import TrainConfig
from tui.app import RnnTuiApp
from tui.messages import TrainingEvent
from tui.widgets.config_form import ConfigForm
from tui.widgets.event_log import EventLog
from tui.widgets.generation_pane import GenerationPane
from tui.widgets.perplexity_chart import PerplexityChart
from tui.widgets.progress_panel import ProgressPanel

ROOT = Path(__file__).resolve().parents[1]


def small_config(**overrides):
    values = dict(corpus="markov:length=20000", hidden=32, epochs=2, device="cpu", sample_every=1)
    values.update(overrides)
    return TrainConfig(**values)


async def wait_until(pilot, condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        await pilot.pause(0.2)
    raise AssertionError("the dashboard did not get there in time")


async def test_fill_the_form_start_a_run_and_see_points_and_text(tmp_path):
    app = RnnTuiApp(small_config(run_dir=str(tmp_path / "run")))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-epochs").value = "3"
        form.query_one("#field-hidden").value = "24"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.training is not None and not app.training.running()
                         and len(app.query_one(PerplexityChart).epochs) == 3)
        await pilot.pause(0.5)
        chart = app.query_one(PerplexityChart)
        assert chart.epochs == [1, 2, 3] and all(v > 1 for v in chart.train)
        assert chart.floor is not None
        generated = "\n".join(app.query_one(GenerationPane).lines)
        assert "epoch 1" in generated and "final:" in generated
        status = str(app.query_one(ProgressPanel).query_one("#status").render())
        assert status.startswith("completed: epoch 3/3")
        assert (tmp_path / "run" / "checkpoint.pt").exists()
        # the log scale with a floor line and a legend (plotext fails on log scale with ylim and labels)
        log_title = "perplexity&#160;(log)"  # as the SVG screenshot spells it
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        assert chart.log_scale and app.is_running and log_title in app.export_screenshot()
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        assert not chart.log_scale and app.is_running and log_title not in app.export_screenshot()
        # idle with a finished run: ctrl+g streams 200 tokens from its checkpoint, with the run's own prompt
        pane = app.query_one(GenerationPane)
        run_prefix = next(line for line in generated.splitlines() if line.startswith("── final: "))[10:]

        def streamed() -> list[str]:
            starts = [i for i, line in enumerate(pane.lines) if line.startswith("── from ")]
            return pane.lines[starts[-1] + 1:] if starts else []

        await pilot.press("ctrl+g")
        await wait_until(pilot, lambda: sum(map(len, streamed())) >= len(run_prefix) + 200, timeout=60)
        assert streamed()[0].startswith(run_prefix)
        assert max(len(line) for line in pane.lines) <= pane.scrollable_content_region.width  # wrapped, not cut


async def test_invalid_values_are_marked_inline_and_start_is_refused():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-hidden").value = "-5"
        form.query_one("#field-lr").value = "fast"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.training is None
        assert "positive integer" in str(form.query_one("#error-hidden").render())
        assert "number" in str(form.query_one("#error-lr").render())
        assert form.query_one("#field-hidden").has_class("-invalid")


async def test_stop_and_pause_act_and_the_app_can_start_again(tmp_path):
    app = RnnTuiApp(small_config(corpus="markov:length=200000", epochs=50, run_dir=str(tmp_path / "r")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.query_one(PerplexityChart).epochs) >= 1)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: app.training_paused)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: not app.training_paused)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: not app.training.running())
        await pilot.pause(0.5)
        status = str(app.query_one(ProgressPanel).query_one("#status").render())
        assert status.startswith("stopped: epoch")
        assert len(app.query_one(PerplexityChart).epochs) < 50
        assert not app.query_one("#field-epochs").disabled  # the form is back for the next run


async def test_a_failure_in_training_shows_in_the_app_which_keeps_running():
    app = RnnTuiApp(small_config(corpus="markov", batch_size=5000, num_steps=50))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.training is not None and not app.training.running())
        await pilot.pause(0.5)
        status = str(app.query_one(ProgressPanel).query_one("#status").render())
        assert "too short" in status
        assert app.is_running


START_EVENT = {"event": "start", "run_dir": "runs/x", "floor_perplexity": None, "device": "cpu",
               "config": {"model": "scratch-rnn"}, "start_epoch": 0, "batches_per_epoch": 100,
               "corpus": {"name": "markov"}, "vocab_size": 28, "num_parameters": 1000}


def progress_event(tokens_per_sec: float) -> dict:
    return {"event": "progress", "epoch": 1, "batch": 10, "batches": 100, "tokens_per_sec": tokens_per_sec,
            "memory": None}


async def test_progress_is_shown_at_most_twice_a_second_and_every_epoch_at_once():
    app = RnnTuiApp(small_config(epochs=5))
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(TrainingEvent(START_EVENT))
        for speed in (1111, 2222, 3333, 4444):  # arriving together: only the first is drawn
            app.post_message(TrainingEvent(progress_event(speed)))
        await pilot.pause(0.2)
        speed_line = lambda: str(app.query_one(ProgressPanel).query_one("#speed").render())  # noqa: E731
        assert "1,111 tokens/s" in speed_line()
        app.post_message(TrainingEvent({"event": "epoch", "epoch": 1, "epochs": 5, "train_perplexity": 9.0,
                                        "val_perplexity": None, "tokens_per_sec": 5555, "eta_s": 8, "memory": None}))
        await pilot.pause(0.2)
        assert "epoch 1/5  5,555 tokens/s" in speed_line()
        await pilot.pause(app.PROGRESS_DISPLAY_INTERVAL_S)
        app.post_message(TrainingEvent(progress_event(6666)))
        await pilot.pause(0.2)
        assert "6,666 tokens/s" in speed_line()


async def test_event_log_writes_lines_in_batches_and_keeps_the_latest_in_view():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause(log.FLUSH_INTERVAL_S)
        writes = []
        original = log.write_lines
        log.write_lines = lambda lines: writes.append(list(lines)) or original(lines)
        for n in range(30):
            log.add(f"line {n}")
        await pilot.pause(log.FLUSH_INTERVAL_S + 0.3)
        assert writes == [["line 0"], [f"line {n}" for n in range(1, 30)]]
        assert log.lines[-1] == "line 29" and log.is_vertical_scroll_end  # scrolled without a relayout
        assert "line&#160;29" in app.export_screenshot()  # drawn, as the SVG spells it
        log.focus()
        assert "ready:" not in app.export_screenshot()
        await pilot.press("home")  # it still scrolls: back to its first line, the greeting
        await pilot.pause(0.2)
        screen = app.export_screenshot()
        assert "ready:" in screen and "line&#160;29" not in screen


async def test_checkpoints_are_logged_when_asked_for_or_when_they_fail():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        app.post_message(TrainingEvent(START_EVENT))
        checkpoint = {"event": "checkpoint", "epoch": 1, "path": "runs/x/checkpoint.pt", "ok": True, "error": None}
        app.post_message(TrainingEvent(checkpoint))  # the one written after every epoch
        await pilot.pause(1.2)
        log = app.query_one(EventLog)
        assert not any("checkpoint of epoch" in line for line in log.lines)
        app.save_requested = True  # as ctrl+s sets it while a run trains
        app.post_message(TrainingEvent({**checkpoint, "epoch": 2}))
        app.post_message(TrainingEvent({**checkpoint, "epoch": 3, "ok": False, "error": "disk full"}))
        await pilot.pause(1.2)
        assert [line for line in log.lines if "checkpoint" in line] == [
            "checkpoint of epoch 2 in runs/x/checkpoint.pt",
            "checkpoint of epoch 3 FAILED: disk full in runs/x/checkpoint.pt"]


def test_snapshot_80x24(snap_compare):
    assert snap_compare(RnnTuiApp(TrainConfig(corpus="markov", device="cpu")), terminal_size=(80, 24))


def test_snapshot_120x40(snap_compare):
    assert snap_compare(RnnTuiApp(TrainConfig(corpus="markov", device="cpu")), terminal_size=(120, 40))


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_real_rnn_tui_in_tmux(tmp_path):
    session = f"rnn-tui-test-{time.time_ns()}"
    command = (f"cd {tmp_path} && {sys.executable} -m tui.cli --corpus markov:length=20000 --epochs 3 "
               f"--hidden 32 --device cpu --start; echo EXITED-$?; sleep 30")
    env = f"PYTHONPATH={ROOT}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", f"{env} bash -c '{command}'"],
                   check=True)
    try:
        screen = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "completed: epoch 3/3" not in screen:
            time.sleep(1)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
        assert "completed: epoch 3/3" in screen, screen
        assert "final:" in screen and "perplexity" in screen and "^r Start" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "C-q"], check=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "EXITED" not in screen:
            time.sleep(0.5)
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
        assert "EXITED-0" in screen and "configuration" not in screen  # the terminal is back, clean
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
