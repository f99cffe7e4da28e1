"""The dashboard, driven as a user would: Pilot tests, snapshots at 80x24 and 120x40, tmux end to end."""
import html
import math
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual import events

from rnn_tui.engine import events as ev
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.tui.app import RnnTuiApp
from rnn_tui.tui.messages import TrainingEvent
from rnn_tui.engine.watch import run_info
from rnn_tui.tui.run_link import start_run
from rnn_tui.tui.runs_screen import RunsScreen
from rnn_tui.tui.screens import NextRun
from rnn_tui.tui.widgets.config_form import ConfigForm
from rnn_tui.tui.widgets.event_log import EventLog
from rnn_tui.tui.widgets.generation_pane import GenerationPane
from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart
from rnn_tui.tui.widgets.progress_panel import ProgressPanel
from helpers import status_of, wait_until


def small_config(**overrides):
    values = dict(corpus="markov:length=20000", hidden=32, epochs=2, device="cpu", sample_every=1)
    values.update(overrides)
    return TrainConfig(**values)


async def test_fill_the_form_start_a_run_and_see_points_and_text(tmp_path):
    app = RnnTuiApp(small_config(run_dir=str(tmp_path / "run")))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-epochs").value = "3"
        form.query_one("#field-hidden").value = "24"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: status_of(app).startswith("completed") and not form.query_one(
            "#field-epochs").disabled)  # finished, and its process gone: the form is back
        chart = app.query_one(PerplexityChart)
        assert chart.epochs == [1, 2, 3] and all(v > 1 for v in chart.train)
        assert chart.floor is not None
        generated = "\n".join(app.query_one(GenerationPane).lines)
        assert "epoch 1" in generated and "final:" in generated
        assert status_of(app).startswith("completed: epoch 3/3")
        assert (tmp_path / "run" / "checkpoint.pt").exists()
        # the log scale with a floor line and a legend (plotext fails on log scale with ylim and labels)
        log_title = "perplexity&#160;(log)"  # as the SVG screenshot spells it
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: log_title in app.export_screenshot())
        assert chart.log_scale and app.is_running
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: log_title not in app.export_screenshot())
        assert not chart.log_scale and app.is_running
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
        assert app.state.link is None and not app.state.launching
        assert "positive integer" in str(form.query_one("#error-hidden").render())
        assert "number" in str(form.query_one("#error-lr").render())
        assert form.query_one("#field-hidden").has_class("-invalid")


async def test_stop_and_pause_act_and_the_app_can_start_again(tmp_path):
    app = RnnTuiApp(small_config(corpus="markov:length=200000", epochs=50, run_dir=str(tmp_path / "r")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: len(app.query_one(PerplexityChart).epochs) >= 1)
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: status_of(app).startswith("paused at epoch"))
        await pilot.press("ctrl+t", "ctrl+t")  # a burst, as over a slow link: resume, then pause again
        await pilot.pause(1.5)
        assert app.state.paused and run_info(tmp_path / "r").status["state"] == "paused"
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: run_info(tmp_path / "r").status["state"] == "training"
                         and not app.state.paused)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: status_of(app).startswith("stopped: epoch")
                         and not app.query_one("#field-epochs").disabled)  # the form is back for the next run
        assert len(app.query_one(PerplexityChart).epochs) < 50
        assert not app.state.live


def send_burst(app, *keys):
    """Keys as a slow link delivers them: all queued at once, none waiting for the last to be handled."""
    for key in keys:
        event = events.Key(key, key if len(key) == 1 else None)
        event.set_sender(app)
        app._driver.send_message(event)


async def test_a_value_typed_and_ctrl_r_in_one_burst_start_with_the_value_typed():
    app = RnnTuiApp(small_config())
    launched = []
    app.launch = lambda config, resume=None: launched.append(config)  # the form's reading is what is tested
    async with app.run_test(size=(80, 24)) as pilot:
        field = app.query_one("#field-epochs")
        field.focus()
        field.value = ""
        await pilot.pause()
        send_burst(app, "7", "7", "ctrl+r")
        await wait_until(pilot, lambda: launched)
        assert launched[0].epochs == 77 and field.value == "77"


async def test_a_prefix_typed_and_ctrl_g_in_one_burst_sample_from_the_prefix_typed(tmp_path):
    app = RnnTuiApp(small_config())
    asked = []
    app.generate_from_checkpoint = lambda run_dir, prefix, temperature: asked.append(prefix)
    async with app.run_test(size=(80, 24)) as pilot:
        app.state = app.state.but(run_dir=str(tmp_path))  # a finished run's folder: ctrl+g samples from its checkpoint
        field = app.query_one("#field-prefix")
        field.focus()
        field.value = ""
        await pilot.pause()
        send_burst(app, "t", "h", "e", "ctrl+g")
        await wait_until(pilot, lambda: asked)
        assert asked == ["the"]


async def test_a_failure_in_training_shows_in_the_app_which_keeps_running():
    app = RnnTuiApp(small_config(corpus="markov", batch_size=5000, num_steps=50))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "too short" in status_of(app))
        assert app.is_running


async def test_a_run_that_exits_non_zero_without_a_word_is_told_not_left_starting(tmp_path, monkeypatch):
    from rnn_tui.engine import launch
    monkeypatch.setattr(launch, "rnn_tui_command", lambda *args: [sys.executable, "-c", "raise SystemExit(3)"])
    app = RnnTuiApp(small_config(run_dir=str(tmp_path / "run")))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not status_of(app).startswith("starting"))
        assert status_of(app).startswith("error: the run ended before it started (status 3): no output")
        assert not app.query_one("#field-epochs").disabled and not (tmp_path / "run").exists()


def start_event() -> ev.Start:
    return ev.Start(config={"model": "scratch-rnn"}, vocab_size=28, corpus={"name": "markov"}, device="cpu",
                    num_parameters=1000, batches_per_epoch=100, run_dir="runs/x")


def progress_event(tokens_per_sec: float) -> ev.Progress:
    return ev.Progress(epoch=1, batch=10, batches=100, train_perplexity=9.0, tokens_per_sec=tokens_per_sec,
                       elapsed_s=1.0)


async def test_progress_is_shown_at_most_twice_a_second_and_every_epoch_at_once(monkeypatch):
    now = [1000.0]  # the dashboard's clock, moved by the test: a slow machine does not move it
    monkeypatch.setattr("rnn_tui.tui.run_view.monotonic", lambda: now[0])
    app = RnnTuiApp(small_config(epochs=5))
    async with app.run_test(size=(80, 24)) as pilot:
        speed_line = lambda: str(app.query_one(ProgressPanel).query_one("#speed").render())  # noqa: E731
        app.post_message(TrainingEvent(start_event()))
        for speed in (1111, 2222, 3333, 4444):  # queued together: the newest replaces the others
            app.post_message(TrainingEvent(progress_event(speed)))
        await pilot.pause()
        assert "4,444 tok/s" in speed_line()
        app.post_message(TrainingEvent(progress_event(5555)))  # within half a second of the last: dropped
        await pilot.pause()
        assert "4,444 tok/s" in speed_line()
        app.post_message(TrainingEvent(ev.Epoch(epoch=1, epochs=5, train_perplexity=9.0, val_perplexity=None,
                                                tokens_per_sec=6666, grad_norm=1.0, elapsed_s=1.0, eta_s=8,
                                                train_loss=2.2)))
        await pilot.pause()
        assert "6,666 tok/s" in speed_line()  # an epoch is shown at once
        now[0] += app.PROGRESS_DISPLAY_INTERVAL_S  # the interval under test
        app.post_message(TrainingEvent(progress_event(7777)))
        await pilot.pause()
        assert "7,777 tok/s" in speed_line()


async def test_event_log_writes_lines_in_batches_and_keeps_the_latest_in_view():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(EventLog)
        await pilot.pause(log.FLUSH_INTERVAL_S)  # the interval under test: the next line is written at once
        writes = []
        original = log.write_lines
        log.write_lines = lambda lines: writes.append(list(lines)) or original(lines)
        for n in range(30):
            log.add(f"line {n}")
        await wait_until(pilot, lambda: len(writes) == 2, timeout=5)
        assert writes == [["line 0"], [f"line {n}" for n in range(1, 30)]]
        assert log.lines[-1] == "line 29" and log.is_vertical_scroll_end  # scrolled without a relayout
        assert "line&#160;29" in app.export_screenshot()  # drawn, as the SVG spells it
        log.focus()
        assert "ready:" not in app.export_screenshot()
        await pilot.press("home")  # it still scrolls: back to its first line, the greeting
        await wait_until(pilot, lambda: "ready:" in app.export_screenshot(), timeout=5)
        assert "line&#160;29" not in app.export_screenshot()


async def test_checkpoints_are_logged_when_asked_for_or_when_they_fail():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(120, 40)) as pilot:  # wide enough that no line wraps
        log = app.query_one(EventLog)
        checkpoint = ev.Checkpoint(epoch=1, path="runs/x/checkpoint.pt")
        for event in (start_event(), checkpoint, ev.Error(message="sentinel")):  # the one written every epoch
            app.post_message(TrainingEvent(event))
        await wait_until(pilot, lambda: "error: sentinel" in log.lines, timeout=5)  # lines are written in order
        assert not any("checkpoint of epoch" in line for line in log.lines)
        app.state = app.state.but(save_requested=True)  # as ctrl+s sets it while a run trains
        app.post_message(TrainingEvent(ev.Checkpoint(epoch=2, path=checkpoint.path)))
        app.post_message(TrainingEvent(ev.Checkpoint(epoch=3, path=checkpoint.path, ok=False, error="disk full")))
        await wait_until(pilot, lambda: sum("checkpoint" in line for line in log.lines) == 2, timeout=5)
        assert [line for line in log.lines if "checkpoint" in line] == [
            "checkpoint of epoch 2 in runs/x/checkpoint.pt",
            "checkpoint of epoch 3 FAILED: disk full in runs/x/checkpoint.pt"]
        # a failure's line is cut at the log's edge: its toast wraps, so the whole of it is read
        long_path = "runs/" + "a-long-folder-name/" * 8 + "samples.txt"
        app.post_message(TrainingEvent(ev.WriteFailed(path=long_path, error="No space left on device")))
        await wait_until(pilot, lambda: any(long_path in n.message for n in app._notifications), timeout=5)
        assert any("disk full" in n.message for n in app._notifications)


async def test_help_lists_every_binding_of_the_app():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await wait_until(pilot, lambda: "rnn-tui&#160;keys" in app.export_screenshot(), timeout=5)
        screen = html.unescape(app.export_screenshot()).replace("\xa0", " ")
        for binding in app.BINDINGS:  # each on one line at 80x24: key, then what it does
            if binding.tooltip:  # ctrl+t's second binding (Resume, while paused) is the first's toggle
                assert binding.key in screen and binding.tooltip in screen, binding.key
        await pilot.press("escape")
        await wait_until(pilot, lambda: "rnn-tui&#160;keys" not in app.export_screenshot(), timeout=5)


def test_a_folder_named_like_the_package_in_the_current_directory_changes_nothing(tmp_path, monkeypatch):
    """The dashboard's runs are the installed rnn-tui, whatever folders the user stands among."""
    for package in ("tui", "rnn_tui", "rnn_tui/tui", "engine"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("raise SystemExit('the wrong package ran')\n")
        (tmp_path / package / "cli.py").write_text("raise SystemExit('the wrong package ran')\n")
    monkeypatch.chdir(tmp_path)
    started = start_run(small_config(epochs=1, run_dir=str(tmp_path / "run")))
    assert started.process.wait(timeout=120) == 0
    log = (tmp_path / "run" / "train.log").read_text()
    assert "wrong package" not in log, log
    assert run_info(started.path).outcome == "completed"


async def test_a_preset_fills_the_form_and_the_chart_shows_loss_in_nats():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-preset").value = "shakespeare"
        await pilot.pause()
        assert form.query_one("#field-model").value == "lstm"
        assert form.query_one("#field-lr_schedule").value == "cosine"
        assert form.query_one("#field-corpus").value == "tinyshakespeare"
        form.query_one("#field-max_time").value = "30m"
        form.query_one("#field-hidden").value = "64"  # a field typed after the preset wins
        config, problems = form.read()
        assert problems == {}
        assert (config.preset, config.optimizer, config.hidden, config.max_time) == ("shakespeare", "adamw", 64, 1800)
        form.query_one("#field-max_time").value = "soon"
        assert "max_time" in form.read()[1]
        chart = app.query_one(PerplexityChart)
        chart.reset(history=[{"epoch": 1, "train_perplexity": math.e ** 2, "val_perplexity": math.e}])
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: "loss&#160;(nats)" in app.export_screenshot())
        assert chart.show_loss and chart._shown(chart.train) == [pytest.approx(2.0)]


async def test_user_text_is_shown_as_text_never_parsed_as_markup(tmp_path):
    app = RnnTuiApp(small_config(run_dir=str(tmp_path / "[b]run[/]")))
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-corpus").value = "[/]nope[red]"
        form.query_one("#field-device").value = "[/]"
        await pilot.press("ctrl+r")  # refused inline: the reason quotes what was typed
        await pilot.pause()
        assert app.is_running and "[/]" in str(form.query_one("#error-device").render())
        form.query_one("#field-device").value = "cpu"
        await pilot.press("ctrl+r")  # an unknown corpus: the launch fails, saying its name
        await wait_until(pilot, lambda: status_of(app).startswith("error:"))
        assert app.is_running and "[/]nope[red]" in status_of(app)
        # the whole reason, wrapped in a toast: the status line holds only what fits
        assert any("[/]nope[red]" in toast.message for toast in app._notifications)


def test_snapshot_80x24(snap_compare):
    assert snap_compare(RnnTuiApp(TrainConfig(corpus="markov", device="cpu")), terminal_size=(80, 24))


def test_snapshot_120x40(snap_compare):
    assert snap_compare(RnnTuiApp(TrainConfig(corpus="markov", device="cpu")), terminal_size=(120, 40))


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_real_rnn_tui_in_tmux(tmp_path):
    session = f"rnn-tui-test-{time.time_ns()}"
    tmux = ["tmux", "-L", session]  # a server of its own, with this test's environment
    dashboard = shlex.join(rnn_tui_command("--corpus", "markov:length=20000", "--epochs", "3", "--hidden", "32",
                                           "--device", "cpu", "--start"))
    command = f"cd {shlex.quote(str(tmp_path))} && {dashboard}; echo EXITED-$?; sleep 30"
    subprocess.run([*tmux, "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True)

    def screen_shows(*texts: str, timeout: float) -> str:
        deadline, screen = time.monotonic() + timeout, ""
        while time.monotonic() < deadline and not all(text in screen for text in texts):
            time.sleep(0.2)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", session], capture_output=True,
                                    text=True).stdout
        return screen
    try:
        screen = screen_shows("completed: epoch 3/3", "final:", "^r Start", timeout=120)  # the end, all of it drawn
        assert "completed: epoch 3/3" in screen and "final:" in screen and "^r Start" in screen, screen
        assert "perplexity" in screen
        subprocess.run([*tmux, "send-keys", "-t", session, "C-q"], check=True)
        screen = screen_shows("EXITED", timeout=30)
        assert "EXITED-0" in screen and "configuration" not in screen  # the terminal is back, clean
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


async def test_after_a_run_ctrl_r_trains_it_on_or_starts_a_new_one_and_the_chart_stays_until_then(tmp_path):
    app = RnnTuiApp(small_config(run_dir=str(tmp_path / "runs" / "first"), sample_every=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+r")  # nothing on screen: it starts at once
        await wait_until(pilot, lambda: status_of(app).startswith("completed: epoch 2/2") and not app.state.live)
        first = app.state.link.path
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, NextRun))
        await pilot.press("r")  # 2 of 2 done: training on needs more epochs, and says so
        await wait_until(pilot, lambda: any("raise epochs" in n.message for n in app._notifications))
        assert isinstance(app.screen, NextRun)
        await pilot.press("n")  # a new run with the form's options, in a folder of its own
        assert app.query_one(PerplexityChart).epochs == [1, 2]  # the last run's chart, until the new one draws
        await wait_until(pilot, lambda: app.state.link.path != first and status_of(app).startswith("completed")
                         and not app.state.live)
        second = app.state.link.path
        assert second.parent == first.parent and run_info(first).outcome == run_info(second).outcome == "completed"
        app.query_one("#field-epochs").value = "3"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, NextRun))
        await pilot.press("r")  # trained on, in its own folder, from its checkpoint
        await wait_until(pilot, lambda: status_of(app).startswith("completed: epoch 3/3") and not app.state.live)
        assert app.state.link.path == second and app.query_one(PerplexityChart).epochs == [1, 2, 3]
        assert sorted(p.name for p in first.parent.iterdir()) == sorted([first.name, second.name])


async def test_the_status_lines_show_time_eta_best_grad_and_lr_and_the_keys_follow_the_state():
    app = RnnTuiApp(small_config(epochs=5))
    async with app.run_test(size=(80, 24)) as pilot:
        def lines() -> str:
            panel = app.query_one(ProgressPanel)
            return " | ".join(str(panel.query_one(name).render()) for name in ("#status", "#clock", "#speed"))
        link = type("Link", (), {"path": Path("runs/x"), "send": lambda self, command, **options: None})()
        app.state = app.state.but(link=link, live=True)  # a run followed, as attach makes it
        app.post_message(TrainingEvent(start_event()))
        app.post_message(TrainingEvent(ev.Progress(epoch=1, batch=10, batches=100, train_perplexity=9.0,
                                                   tokens_per_sec=12_345, elapsed_s=62, lr=1e-3, grad_norm=0.953,
                                                   eta_s=310)))
        await wait_until(pilot, lambda: "tok/s" in lines(), timeout=5)
        assert "epoch 1/5  1m02s, eta 5m10s" in lines() and "12.3k tok/s" in lines()
        assert "best val N/A  grad 0.953  lr 0.001" in lines()  # no validation yet: said, not made up
        app.post_message(TrainingEvent(ev.Epoch(epoch=1, epochs=5, train_perplexity=9.0, val_perplexity=8.0,
                                                tokens_per_sec=6666, grad_norm=0.9, elapsed_s=70, eta_s=280,
                                                train_loss=2.2, val_loss=math.log(8.0), best_epoch=1,
                                                best_val_loss=math.log(8.0), lr=1e-3)))
        await wait_until(pilot, lambda: "best val 8.000" in lines(), timeout=5)
        assert "80%" not in lines() and "epoch 1/5  1m10s, eta 4m40s" in lines()
        for key in ("ctrl+t", "ctrl+o", "ctrl+s", "ctrl+d"):  # what acts on a training run is offered
            assert app.check_action(app._bindings.key_to_bindings[key][0].action, ()), key
        assert not app.check_action("start", ()) and not app.check_action("resume", ())
        app.post_message(TrainingEvent(ev.Paused(epoch=2, batch=40)))
        await wait_until(pilot, lambda: app.state.paused, timeout=5)
        assert app.check_action("resume", ()) and not app.check_action("pause", ())  # the footer says Resume
        assert "paused at epoch 2, minibatch 40: ctrl+t resumes" in lines() and "epoch 2/5" in lines()
        # the footer recomposes on the next refresh of the bindings: wait for it, not for a fixed pause
        await wait_until(pilot, lambda: "Resume" in (shot := app.export_screenshot()) and "Pause" not in shot,
                         timeout=5)
        app.post_message(TrainingEvent(ev.Resumed(epoch=2, batch=40)))
        await wait_until(pilot, lambda: not app.state.paused, timeout=5)
        assert lines().startswith("training scratch-rnn on cpu")  # the status is current again
        await pilot.press("f2")  # the runs screen: the run's keys are not offered there
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen), timeout=5)
        assert not any(app.check_action(action, ()) for action in app.RUN_ACTIONS)
        await wait_until(pilot, lambda: "Pause" not in (shot := app.export_screenshot()) and "Start" not in shot,
                         timeout=5)


async def test_the_chart_names_its_lines_tells_them_apart_without_colour_and_says_loss_in_loss_mode():
    app = RnnTuiApp(small_config())
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(PerplexityChart)
        assert chart.plain  # NO_COLOR is set for every test
        chart.reset(floor=3.0, history=[{"epoch": e, "train_perplexity": 9 - e, "val_perplexity": 9.5 - e}
                                        for e in (1, 2, 3)], total_epochs=3)
        await pilot.pause()
        drawn = chart.render().plain
        assert "── floor" in drawn and "•• train" in drawn and "oo val" in drawn  # a legend entry each
        assert chart.border_title == "perplexity"
        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: chart.border_title == "loss (nats)", timeout=5)
        await pilot.press("ctrl+l")
        await wait_until(pilot, lambda: chart.border_title == "loss (nats) (log)", timeout=5)


async def test_the_form_keeps_a_prefixs_spaces_and_names_a_mistyped_corpus_before_any_launch():
    app = RnnTuiApp(small_config())
    launched = []
    app.launch = lambda config, resume=None: launched.append(config)
    async with app.run_test(size=(80, 24)) as pilot:
        form = app.query_one(ConfigForm)
        form.query_one("#field-prefix").value = "the "
        form.query_one("#field-corpus").value = "shakespeare"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert not launched  # refused by the form: no process, no torch
        assert "did you mean tinyshakespeare" in str(form.query_one("#error-corpus").render())
        form.query_one("#field-corpus").value = "markov"
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: launched, timeout=5)
        assert launched[0].prefix == "the "
