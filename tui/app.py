"""The rnn-tui dashboard: configure, train, watch, sample and checkpoint from the keyboard.

Training runs in a child process (``rnn-tui train --json --control-stdin``); a thread worker
reads its events and only posts messages. This process never imports torch, so the first frame
is drawn at once.
"""
from __future__ import annotations

import locale
import sys
import time

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from ..engine import events as ev
from ..engine.config import TrainConfig

from .messages import GeneratedText, TrainingEvent, TrainingExited
from .screens import ConfirmQuit, HelpScreen
from .training_process import TrainingProcess, stream_generation
from .widgets.config_form import ConfigForm
from .widgets.device_status import DeviceStatus
from .widgets.event_log import EventLog
from .widgets.generation_pane import GenerationPane
from .widgets.perplexity_chart import PerplexityChart
from .widgets.progress_panel import ProgressPanel


class RnnTuiApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "rnn-tui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    PROGRESS_DISPLAY_INTERVAL_S = 0.5
    # priority: the keys work while a form field has focus. The tooltips are the help screen's
    # and the README's key table (tests/test_docs.py holds the README to them).
    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True, tooltip="start training (or resume the --resume run)"),
        Binding("ctrl+t", "pause", "Pause", priority=True, tooltip="pause / resume (acts between two minibatches)"),
        Binding("ctrl+o", "stop", "Stop", priority=True, tooltip="stop; the last completed epoch is checkpointed"),
        Binding("ctrl+g", "sample", "Sample", priority=True,
                tooltip="sample now with the form's prefix and temperature"),
        Binding("ctrl+s", "save", "Save", priority=True, tooltip="write a checkpoint now"),
        Binding("ctrl+l", "log_scale", "Log", priority=True, tooltip="toggle the chart's log scale"),
        Binding("f1", "help", "Help", priority=True, tooltip="this key map"),
        Binding("ctrl+q", "request_quit", "Quit", priority=True, tooltip="quit (asks first while a run trains)"),
    ]

    def __init__(self, config: TrainConfig, start: bool = False, ascii_only: bool = False,
                 resume: str | None = None):
        super().__init__()
        self.train_config = config
        self.autostart = start
        self.ascii_only = ascii_only
        self.resume_path = resume
        self.training: TrainingProcess | None = None
        self.training_paused = False
        self.run_finished = False
        self.quitting = False
        self.run_dir: str | None = resume
        self.epochs = config.epochs
        self.save_requested = False
        self._progress_shown_at = 0.0

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ConfigForm(self.train_config, id="form")
                yield DeviceStatus(self.train_config.device, id="device")
            with Vertical(id="right"):
                yield PerplexityChart(ascii_only=self.ascii_only, id="chart")
                yield ProgressPanel(id="progress")
                yield GenerationPane(id="generation", max_lines=500)
                yield EventLog(id="events", max_lines=500)
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        if self.ascii_only:
            self.screen.add_class("-ascii")
        self.query_one("#form").border_title = "configuration"
        self.query_one("#device").border_title = "device"
        self.query_one("#chart").border_title = "perplexity"
        self.query_one("#generation").border_title = "generation"
        self.query_one("#events").border_title = "events"
        self.log_event("ready: ctrl+r starts, f1 lists the keys")
        if self.resume_path:
            self.log_event(f"ctrl+r resumes {self.resume_path}; ctrl+g samples from it")
        if self.autostart:
            self.call_after_refresh(self.action_start)

    # -- actions -------------------------------------------------------------------------------
    def action_start(self) -> None:
        if self.training and self.training.running():
            self.notify("the last run is still closing; try again in a moment" if self.run_finished
                        else "training is already running", severity="warning")
            return
        config, problems = self.query_one(ConfigForm).read()
        if problems:
            name, reason = next(iter(problems.items()))
            self.notify(f"{name.replace('_', ' ')} {reason}", title="cannot start", severity="error")
            return
        self.train_config, self.epochs = config, config.epochs
        self.training_paused = self.run_finished = False
        self.query_one(PerplexityChart).reset(total_epochs=config.epochs)
        self.query_one(ProgressPanel).set_status("starting: loading torch and the corpus…")
        self.query_one(ConfigForm).set_enabled(False)
        self.training = TrainingProcess(config, resume=self.resume_path)
        self.resume_path = None
        self.query_one(DeviceStatus).track(self.training.pid)
        self.pump_events(self.training)

    def action_pause(self) -> None:
        if not self._training_active():
            return
        self.training.send("resume" if self.training_paused else "pause")

    def action_stop(self) -> None:
        if self._training_active():
            self.training.send("stop")
            self.query_one(ProgressPanel).set_status("stopping at the next minibatch…")

    def action_save(self) -> None:
        if self._training_active():
            self.save_requested = True
            self.training.send("save")
        elif self.run_dir:
            self.notify(f"the checkpoint in {self.run_dir} is up to date")
        else:
            self.notify("nothing to save yet", severity="warning")

    def action_sample(self) -> None:
        form = self.query_one(ConfigForm)
        prefix = form.query_one("#field-prefix").value or None  # None: the run's own prompt
        try:
            temperature = max(0.0, float(form.query_one("#field-temperature").value or 0))
        except ValueError:
            temperature = self.train_config.temperature
        if self._training_active():
            self.training.send("sample", prefix=prefix, temperature=temperature, length=200)
        elif self.run_dir:
            self.query_one(GenerationPane).begin_stream(f"from {self.run_dir} (t={temperature:g})")
            self.generate_from_checkpoint(self.run_dir, prefix or "", temperature)
        else:
            self.notify("no model yet: start training first", severity="warning")

    def action_log_scale(self) -> None:
        self.query_one(PerplexityChart).toggle_log_scale()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_request_quit(self) -> None:
        if not self._training_active():
            self.exit()
            return

        def answered(stop: bool | None) -> None:
            if stop and not self.training.running():
                self.exit()  # it ended while the question was on screen
            elif stop:
                self.quitting = True
                self.training.send("stop")
                self.query_one(ProgressPanel).set_status("stopping, writing the checkpoint, then quitting…")
                self.set_timer(30, self._force_quit)
        self.push_screen(ConfirmQuit(), answered)

    def _force_quit(self) -> None:
        if self.training and self.training.running():
            self.training.process.terminate()  # SIGTERM: the trainer still checkpoints on its way out
        self.exit()

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for binding in self.BINDINGS:
            yield SystemCommand(binding.description, f"{binding.key}", getattr(self, f"action_{binding.action}"))

    def _training_active(self) -> bool:
        """A run that has reported ``finished`` is only closing its files: it is not active."""
        return self.training is not None and self.training.running() and not self.run_finished

    # -- workers: they only post messages ------------------------------------------------------------
    @work(thread=True, group="training")
    def pump_events(self, process: TrainingProcess) -> None:
        for event in process.events():
            self.post_message(TrainingEvent(event))
        code, stderr = process.wait()
        self.post_message(TrainingExited(code, stderr))

    @work(thread=True, group="generate", exclusive=True)
    def generate_from_checkpoint(self, path: str, prefix: str, temperature: float) -> None:
        code, error = stream_generation(path, prefix, temperature, 200,
                                        lambda piece: self.post_message(GeneratedText(piece)))
        self.post_message(GeneratedText("", done=True, error=error if code else None))

    # -- message handlers ------------------------------------------------------------------------------
    def on_generated_text(self, message: GeneratedText) -> None:
        pane = self.query_one(GenerationPane)
        if message.done:
            pane.stream("\n")
            if message.error:
                self.log_event(f"generation failed: {message.error.splitlines()[-1]}")
        else:
            pane.stream(message.text)

    def on_training_event(self, message: TrainingEvent) -> None:
        event = message.event
        progress = self.query_one(ProgressPanel)
        match event:
            case ev.Start():
                self._show_start(event)
            case ev.Progress():
                self._memory(event.memory)
                # every frame costs the trainer a few ms of its cores: twice a second is enough to watch.
                # Dropped, not deferred as in tui/coalesce.py: a deferred one could overwrite the epoch line
                if time.monotonic() - self._progress_shown_at < self.PROGRESS_DISPLAY_INTERVAL_S:
                    return
                self._progress_shown_at = time.monotonic()
                progress.show_progress(event.epoch, self.epochs, event.batch, event.batches, event.tokens_per_sec)
            case ev.Epoch():
                self._memory(event.memory)
                self.query_one(PerplexityChart).add_point(event.epoch, event.train_perplexity, event.val_perplexity)
                progress.show_progress(event.epoch, event.epochs, 1, 1, event.tokens_per_sec, event.eta_s)
                val = f", val {event.val_perplexity:.3f}" if event.val_perplexity is not None else ""
                self.log_event(f"epoch {event.epoch}: perplexity {event.train_perplexity:.3f}{val}")
            case ev.Sample():
                title = f"epoch {event.epoch}" + (" (on demand)" if event.on_demand else "")
                self.query_one(GenerationPane).add_sample(title, event.text)
            case ev.Paused() | ev.Resumed():
                self.training_paused = isinstance(event, ev.Paused)
                progress.set_status(f"{event.event} at epoch {event.epoch}, minibatch {event.batch}"
                                    + (": ctrl+t resumes" if self.training_paused else ""))
            case ev.Checkpoint():  # written every epoch: logged when asked for (ctrl+s) or when it fails
                if self.save_requested or not event.ok:
                    self.save_requested = False
                    outcome = "" if event.ok else f" FAILED: {event.error}"
                    self.log_event(f"checkpoint of epoch {event.epoch}{outcome} in {event.path}")
            case ev.Diverged():
                self.log_event(f"diverged at epoch {event.epoch} (loss {event.loss}); "
                               f"kept epoch {event.restored_epoch}'s weights")
            case ev.Finished():
                self.run_finished = True
                ppl = f", perplexity {event.train_perplexity:.3f}" if event.train_perplexity is not None else ""
                progress.set_status(f"{event.status}: epoch {event.epoch}/{self.epochs}{ppl}")
                for sample in event.samples:
                    self.query_one(GenerationPane).add_sample(f"final: {sample['prefix']}", sample["text"])
            case ev.Error():
                progress.set_status(f"error: {event.message}")
                self.log_event(f"error: {event.message}")

    def _show_start(self, event: ev.Start) -> None:
        self.run_dir = event.run_dir
        self.query_one(PerplexityChart).reset(event.floor_perplexity, total_epochs=self.epochs)
        self.query_one(DeviceStatus).set_device(event.device)
        progress = self.query_one(ProgressPanel)
        progress.set_status(f"training {event.config['model']} on {event.device}")
        progress.show_progress(event.start_epoch + 1, self.epochs, 0, event.batches_per_epoch, 0)
        floor = f", floor {event.floor_perplexity:.3f}" if event.floor_perplexity else ""
        self.log_event(f"start: {event.corpus.get('name')}, vocab {event.vocab_size}, "
                       f"{event.num_parameters:,} parameters{floor}; run {event.run_dir}")

    def on_training_exited(self, message: TrainingExited) -> None:
        self.query_one(ConfigForm).set_enabled(True)
        self.query_one(DeviceStatus).track(None)
        if message.returncode not in (0,) and message.stderr_tail:
            last = message.stderr_tail.strip().splitlines()[-1]
            self.log_event(f"training process exited with status {message.returncode}: {last}")
            if "error" in last.lower():
                self.query_one(ProgressPanel).set_status(last)
        if self.quitting:
            self.exit()

    def _memory(self, memory: dict | None) -> None:
        if memory:
            self.query_one(DeviceStatus).memory = memory

    def log_event(self, text: str) -> None:
        self.query_one(EventLog).add(text)


def wants_ascii() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or locale.getpreferredencoding(False) or "").lower()
    return "utf" not in encoding


def run_dashboard(config: TrainConfig, start: bool = False, ascii_only: bool = False,
                  resume: str | None = None) -> int:
    app = RnnTuiApp(config, start=start, ascii_only=ascii_only or wants_ascii(), resume=resume)
    app.run()
    if app.training and app.training.running():
        app.training.send("stop")
        app.training.process.wait(timeout=60)
    return 0
