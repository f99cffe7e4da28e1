"""The rnn-tui dashboard: configure, train, watch, sample and checkpoint from the keyboard.

A run is a process of its own (tui/run_link.py): the dashboard launches it detached, then follows
its folder from a thread worker that only posts messages, and steers it over its control socket.
Quitting, detaching (ctrl+d) or a dropped terminal leave it training; ``rnn-tui attach`` follows
it again; tui/run_view.py draws what the run writes. This process never imports torch, so the
first frame is drawn at once.
"""
from __future__ import annotations

import locale
import os
import signal
import sys
import time
from pathlib import Path

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer
from textual.worker import get_current_worker

from rnn_tui.engine.config import RESUME_OVERRIDES, TrainConfig
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.launch import LaunchError
from rnn_tui.engine.phases import RunState
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.watch import RunWatch, process_alive, run_info

from rnn_tui.tui.messages import GeneratedText, LaunchFailed, RunEnded, RunHistory, RunLaunched, TrainingEvent
from rnn_tui.tui.run_link import RunLink, start_run, stream_generation
from rnn_tui.tui.run_on_screen import RunOnScreen
from rnn_tui.tui.run_view import RunView
from rnn_tui.tui.runs_screen import RunsScreen
from rnn_tui.tui.screens import HelpScreen, NextRun, QuitWhileTraining
from rnn_tui.tui.widgets.config_form import ConfigForm
from rnn_tui.tui.widgets.device_status import DeviceStatus
from rnn_tui.tui.widgets.event_log import EventLog
from rnn_tui.tui.widgets.generation_pane import GenerationPane
from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart
from rnn_tui.tui.widgets.progress_panel import ProgressPanel


class RnnTuiApp(RunView, App):
    CSS_PATH = "app.tcss"
    TITLE = "rnn-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    # priority: the keys work while a form field has focus. The tooltips are the help screen's
    # and the README's key table (tests/test_docs.py holds the README to them).
    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True,
                tooltip="start; with a run on screen: train on, or a new run"),
        Binding("ctrl+t", "pause", "Pause", priority=True, tooltip="pause / resume (acts between two minibatches)"),
        Binding("ctrl+t", "resume", "Resume", priority=True),  # the same key, named for what it does while paused
        Binding("ctrl+o", "stop", "Stop", priority=True, tooltip="stop; the last completed epoch is checkpointed"),
        Binding("ctrl+g", "sample", "Sample", priority=True,
                tooltip="sample now with the form's prefix and temperature"),
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="write a checkpoint now"),
        Binding("ctrl+d", "detach", "Detach", priority=True, tooltip="detach: quit and leave the run training"),
        Binding("f2", "runs", "Runs", priority=True, tooltip="every run: open, compare, note, delete, see its sweep"),
        Binding("ctrl+l", "log_scale", "Log", priority=True, show=False,  # in the help and the palette: 80 columns
                tooltip="toggle the chart's log scale"),
        Binding("ctrl+n", "loss", "Loss", priority=True, show=False,
                tooltip="toggle the chart between perplexity and loss in nats"),
        Binding("f1", "help", "Help", priority=True, tooltip="this key map"),
        Binding("ctrl+q", "request_quit", "Quit", priority=True, show=False,  # Textual's own quit key
                tooltip="quit (while a run trains: stop it, leave it, or stay)"),
    ]
    # what acts on the run the dashboard shows: not from the runs screen or the compare view
    RUN_ACTIONS = ("start", "pause", "resume", "stop", "sample", "save", "detach")

    FOLLOW_POLL_S = 0.25
    state: var[RunOnScreen] = var(RunOnScreen, bindings=True)  # the footer's keys follow every change

    def __init__(self, config: TrainConfig | None = None, start: bool = False, ascii_only: bool = False,
                 resume: str | None = None, attach: str | None = None):
        super().__init__()
        if attach:  # the form shows the run's own configuration
            saved = RunDir(attach).read_config()
            config = TrainConfig.from_dict(saved) if saved else TrainConfig()
        self.train_config = config or TrainConfig()  # what the form was filled from
        self.autostart = start
        self.ascii_only = ascii_only
        self.set_reactive(RnnTuiApp.state, RunOnScreen(run_dir=resume or attach, attach_path=attach,
                                                       resume_path=resume, epochs=self.train_config.epochs))

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ConfigForm(self.train_config, id="form")
                yield DeviceStatus(self.train_config.device, id="device")
            with Vertical(id="right"):
                yield PerplexityChart(ascii_only=self.ascii_only, plain=bool(os.environ.get("NO_COLOR")), id="chart")
                yield ProgressPanel(id="progress")
                yield GenerationPane(id="generation", max_lines=500)
                yield EventLog(id="events", max_lines=500)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        if self.ascii_only:
            self.screen.add_class("-ascii")
        self.query_one("#form").border_title = "configuration"
        self.query_one("#device").border_title = "device"
        self.query_one("#generation").border_title = "generation"
        self.query_one("#events").border_title = "events"
        self.log_event("ready: ctrl+r starts, f1 lists the keys")
        if self.state.attach_path:
            self.follow(RunLink(self.state.attach_path))
        elif self.state.resume_path:
            self.log_event(f"ctrl+r trains {self.state.resume_path} on; ctrl+g samples from it")
        if self.autostart:
            self.call_after_refresh(self.action_start)

    # -- actions -------------------------------------------------------------------------------
    def _after_pending_keys(self, callback) -> None:
        """Run ``callback`` once the focused field has taken the keys queued before this one.

        Over SSH a value and ctrl+r arrive in one burst: the priority binding runs at once, while the
        characters still wait in the field's own queue. Queued behind them, the form reads what is
        on screen."""
        if self.focused is not None:
            self.focused.call_later(callback)
        else:
            callback()

    def action_start(self) -> None:
        self._after_pending_keys(self._start)

    def _start(self) -> None:
        if self.state.launching or self.state.training:
            self.notify("training is already running", severity="warning")
            return
        if self.state.live:
            self.notify("the last run is still closing; try again in a moment", severity="warning")
            return
        config, problems = self.query_one(ConfigForm).read()
        if problems:
            name, reason = next(iter(problems.items()))
            self.notify(f"{name.replace('_', ' ')} {reason}", title="cannot start", severity="error", markup=False)
            return
        run_dir = self.state.run_dir
        if self.state.resume_path:  # `rnn-tui --resume RUN`: what to do was said on the command line
            self._launch(config, self.state.resume_path)
        elif run_dir:
            kept = [name.replace("_", " ") for name, value in config.to_dict().items()
                    if name not in (*RESUME_OVERRIDES, "run_dir", "preset") and value != getattr(self.train_config, name)]
            question = NextRun(Path(run_dir).name, self._trained_epochs(), config.epochs, kept)
            self.push_screen(question, lambda answer: answer and self._launch(config, run_dir
                                                                                 if answer == "resume" else None))
        else:
            self._launch(config, None)

    def _trained_epochs(self) -> int | None:
        """The epoch the run on screen would train on from: its checkpoint's (None: it has none)."""
        if self.state.checkpoint_epoch is not None:
            return self.state.checkpoint_epoch
        epoch = run_info(self.state.run_dir).status.get("epoch")
        return epoch if isinstance(epoch, int) and RunDir(self.state.run_dir).checkpoint_path.is_file() else None

    def _launch(self, config: TrainConfig, resume: str | None) -> None:
        """Start a run (``resume``: train that one on): the run on screen stays until the new one draws."""
        if resume is None:
            config.run_dir = None if self.state.run_dir else config.run_dir  # a new run: a new folder
        self.train_config = config
        self.state = self.state.but(epochs=config.epochs, launching=True)
        self.query_one(ProgressPanel).set_status("starting: loading torch and the corpus…")
        self.query_one(ConfigForm).set_enabled(False)
        self.launch(config, resume)

    def action_pause(self) -> None:
        if self.state.training and self._send("resume" if self.state.paused else "pause"):
            # what was asked for, before the run's event says so: a second quick press toggles back
            self.state = self.state.but(paused=not self.state.paused)

    action_resume = action_pause  # ctrl+t while paused: the same toggle, named Resume in the footer

    def action_stop(self) -> None:
        if self.state.training and self._send("stop"):
            self.query_one(ProgressPanel).set_status("stopping at the next minibatch…")

    def action_save(self) -> None:
        if self.state.training:
            self.state = self.state.but(save_requested=self._send("save"))
        elif self.state.run_dir:
            self.notify(f"the checkpoint in {self.state.run_dir} is up to date", markup=False)
        else:
            self.notify("nothing to save yet", severity="warning")

    def action_sample(self) -> None:
        self._after_pending_keys(self._sample)

    def _sample(self) -> None:
        form = self.query_one(ConfigForm)
        prefix = form.query_one("#field-prefix").value or None  # None: the run's own prompt
        try:
            temperature = max(0.0, float(form.query_one("#field-temperature").value or 0))
        except ValueError:
            temperature = self.train_config.temperature
        run_dir = self.state.run_dir
        if self.state.training:
            self._send("sample", prefix=prefix, temperature=temperature, length=200)
        elif run_dir and not self.state.launching:
            self.query_one(GenerationPane).begin_stream(f"from {run_dir} (t={temperature:g})")
            self.generate_from_checkpoint(run_dir, prefix or "", temperature)
        else:
            self.notify("no model yet: start training first", severity="warning")

    def action_detach(self) -> None:
        if not self.state.training:
            self.notify("no run is training here: nothing to detach from", severity="warning")
            return
        self.state = self.state.but(detached=True)
        self.exit()

    def action_runs(self) -> None:
        if isinstance(self.screen, RunsScreen):
            return
        self.push_screen(RunsScreen(), lambda path: path and self.open_run(path))

    def open_run(self, path: str) -> None:
        """Show a run picked on the runs screen: followed live, or its history; ctrl+r resumes it."""
        if self.state.launching:
            self.notify("a run is starting: open another once it trains", severity="warning")
            return
        link = self.state.link
        if link is not None and link.path.resolve() == RunDir(path).path.resolve():
            return
        saved = RunDir(path).read_config()
        if saved:
            self.train_config = TrainConfig.from_dict(saved)
            self.query_one(ConfigForm).load(self.train_config)
        # ctrl+r asks: train the opened run on, or a new run
        self.state = self.state.but(attach_path=path, run_dir=path, resume_path=None)
        self.query_one(GenerationPane).clear()
        self.follow(RunLink(path))

    def action_log_scale(self) -> None:
        self.query_one(PerplexityChart).toggle_log_scale()

    def action_loss(self) -> None:
        self.query_one(PerplexityChart).toggle_loss()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_request_quit(self) -> None:
        if not self.state.training:
            self.exit()
            return

        def answered(choice: str | None) -> None:
            if choice == "detach":
                self.action_detach()
            elif choice == "stop" and not self.state.training:
                self.exit()  # it ended while the question was on screen
            elif choice == "stop":
                self.state = self.state.but(quitting=True)
                self._send("stop")
                self.query_one(ProgressPanel).set_status("stopping, writing the checkpoint, then quitting…")
                self.set_timer(30, self._force_quit)
        self.push_screen(QuitWhileTraining(), answered)

    def _force_quit(self) -> None:
        info = run_info(self.state.link.path)
        if info.state == RunState.LIVE and info.on_this_host:
            os.kill(info.pid, signal.SIGTERM)  # the trainer still checkpoints on its way out
        self.exit()

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        """The footer shows what the keys do now: Pause or Resume, Start only when nothing trains, and none
        of the run's keys over the runs screen or the compare view."""
        if action not in self.RUN_ACTIONS:
            return True
        if self.screen is not self.screen_stack[0]:
            return False
        return self.state.allows(action)

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            if binding.tooltip:  # ctrl+t once: Pause, which resumes a paused run
                yield SystemCommand(binding.description, binding.key, getattr(self, f"action_{binding.action}"))

    def _send(self, command: str, **options) -> bool:
        problem = self.state.link.send(command, **options)
        if problem:
            self.notify(f"{command}: {problem}", severity="warning", markup=False)
        return problem is None

    # -- the run: launched, then followed -------------------------------------------------------------
    def follow(self, link: RunLink) -> None:
        self.state = self.state.following(link)
        self.follow_run(link)

    # -- workers: they only post messages ------------------------------------------------------------
    @work(thread=True, group="launch", exclusive=True)
    def launch(self, config: TrainConfig, resume: str | None) -> None:
        try:
            started = start_run(config, resume)
        except LaunchError as exc:
            self.post_message(LaunchFailed(str(exc)))
            return
        self.post_message(RunLaunched(RunLink(started.path, started.process)))

    @work(thread=True, group="follow", exclusive=True)
    def follow_run(self, link: RunLink) -> None:
        worker = get_current_worker()
        watch = RunWatch(link.path)
        self.post_message(RunHistory(watch.poll(), watch.info()))
        while not worker.is_cancelled:
            info = watch.info()  # before the events: a run's last events are read before its end is told
            for event in watch.poll():
                self.post_message(TrainingEvent(event))
            closing = info.state == RunState.FINISHED and info.on_this_host and process_alive(info.status)
            if info.state != RunState.LIVE and not closing:
                self.post_message(RunEnded(info))
                return
            link.reap()
            time.sleep(self.FOLLOW_POLL_S)

    @work(thread=True, group="generate", exclusive=True)
    def generate_from_checkpoint(self, path: str, prefix: str, temperature: float) -> None:
        pieces: list[str] = []

        def streamed(piece: str) -> None:
            pieces.append(piece)
            self.post_message(GeneratedText(piece))
        code, error = stream_generation(path, prefix, temperature, 200, streamed)
        problem = None
        if code == 0:  # kept with the run's other samples, as one asked of a training run is
            run = RunDir(path)
            status = run.read_status() or {}
            best = run.best_path.is_file()
            epoch = status.get("best_val_epoch" if best else "epoch")
            try:
                run.append_sample(epoch if isinstance(epoch, int) else 0, "".join(pieces).rstrip("\n"),
                                  f"on demand from {'best.pt' if best else 'checkpoint.pt'} (t={temperature:g})")
            except OSError as exc:
                problem = f"not kept in samples.txt: {exc.strerror or exc}"
        self.post_message(GeneratedText("", done=True, error=error if code else None, problem=problem))

    # -- message handlers ------------------------------------------------------------------------------
    def on_run_launched(self, message: RunLaunched) -> None:
        self.state = self.state.but(launching=False, resume_path=None)  # a --resume is done with once trained on
        self.follow(message.link)

    def on_launch_failed(self, message: LaunchFailed) -> None:
        self.state = self.state.but(launching=False)
        self.query_one(ConfigForm).set_enabled(True)
        self.fail(message.reason, "the run did not start")

    def on_generated_text(self, message: GeneratedText) -> None:
        pane = self.query_one(GenerationPane)
        if message.done:
            pane.stream("\n")
            if message.error:
                self.log_event(f"generation failed: {message.error.splitlines()[-1]}")
            if message.problem:
                self.log_event(message.problem)
        else:
            pane.stream(message.text)


def wants_ascii() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or locale.getpreferredencoding(False) or "").lower()
    return "utf" not in encoding


def terminal_problem() -> str | None:
    """Why the dashboard cannot draw here (one line), or None: it reads keys from stdin and draws on stderr,
    and without a terminal on both it would wait for keys that never come."""
    if os.environ.get("TEXTUAL_DRIVER"):  # a driver of its own: textual-serve's tab, a test's
        return None
    streams = {"stdin": sys.__stdin__, "stderr": sys.__stderr__}
    missing = [name for name, stream in streams.items() if stream is None or not stream.isatty()]
    if missing:
        return (f"the dashboard needs a terminal, and {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                f"not one: run it in a terminal (or tmux), or use rnn-tui train, logs or serve")
    return None


def run_dashboard(config: TrainConfig | None, start: bool = False, ascii_only: bool = False,
                  resume: str | None = None, attach: str | None = None) -> int:
    problem = terminal_problem()
    if problem:
        raise InputProblem(problem)
    app = RnnTuiApp(config, start=start, ascii_only=ascii_only or wants_ascii(), resume=resume, attach=attach)
    app.run()
    if app.state.detached:
        path = app.state.link.path
        print(f"detached: the run trains on in {path}\n  attach again:  rnn-tui attach {path}\n"
              f"  or steer it:   rnn-tui control {path} pause|resume|stop|save|sample")
    return app.return_code or 0  # Textual sets 1 when the app crashed
