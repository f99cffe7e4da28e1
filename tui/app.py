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

from engine.config import TrainConfig

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
    BINDINGS = [
        Binding("ctrl+r", "start", "Start", priority=True),
        Binding("ctrl+t", "pause", "Pause", priority=True),
        Binding("ctrl+o", "stop", "Stop", priority=True),
        Binding("ctrl+g", "sample", "Sample", priority=True),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+l", "log_scale", "Log", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+q", "request_quit", "Quit", priority=True),
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
            self.training.send("sample", {"prefix": prefix, "temperature": temperature, "length": 200})
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
        for data in process.events():
            self.post_message(TrainingEvent(data))
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
        data = message.data
        kind = data["event"]
        progress = self.query_one(ProgressPanel)
        if kind == "start":
            self.run_dir = data["run_dir"]
            self.query_one(PerplexityChart).reset(data.get("floor_perplexity"), total_epochs=self.epochs)
            self.query_one(DeviceStatus).set_device(data["device"])
            progress.set_status(f"training {data['config']['model']} on {data['device']}")
            progress.show_progress(data["start_epoch"] + 1, self.epochs, 0, data["batches_per_epoch"], 0)
            floor = f", floor {data['floor_perplexity']:.3f}" if data.get("floor_perplexity") else ""
            self.log_event(f"start: {data['corpus'].get('name')}, vocab {data['vocab_size']}, "
                           f"{data['num_parameters']:,} parameters{floor}; run {data['run_dir']}")
        elif kind == "progress":
            self._memory(data)
            # every frame costs the trainer a few ms of its cores: twice a second is enough to watch.
            # Dropped, not deferred as in tui/coalesce.py: a deferred one could overwrite the epoch line
            if time.monotonic() - self._progress_shown_at < self.PROGRESS_DISPLAY_INTERVAL_S:
                return
            self._progress_shown_at = time.monotonic()
            progress.show_progress(data["epoch"], self.epochs, data["batch"], data["batches"], data["tokens_per_sec"])
        elif kind == "epoch":
            self._memory(data)
            self.query_one(PerplexityChart).add_point(data["epoch"], data["train_perplexity"], data["val_perplexity"])
            progress.show_progress(data["epoch"], data["epochs"], 1, 1, data["tokens_per_sec"], data["eta_s"])
            val = f", val {data['val_perplexity']:.3f}" if data["val_perplexity"] is not None else ""
            self.log_event(f"epoch {data['epoch']}: perplexity {data['train_perplexity']:.3f}{val}")
        elif kind == "sample":
            title = f"epoch {data['epoch']}" + (" (on demand)" if data["on_demand"] else "")
            self.query_one(GenerationPane).add_sample(title, data["text"])
        elif kind in ("paused", "resumed"):
            self.training_paused = kind == "paused"
            progress.set_status(f"{kind} at epoch {data['epoch']}, minibatch {data['batch']}"
                                + (": ctrl+t resumes" if self.training_paused else ""))
        elif kind == "checkpoint":  # written every epoch: logged when asked for (ctrl+s) or when it fails
            if self.save_requested or not data["ok"]:
                self.save_requested = False
                outcome = "" if data["ok"] else f" FAILED: {data['error']}"
                self.log_event(f"checkpoint of epoch {data['epoch']}{outcome} in {data['path']}")
        elif kind == "diverged":
            self.log_event(f"diverged at epoch {data['epoch']} (loss {data['loss']}); "
                           f"kept epoch {data['restored_epoch']}'s weights")
        elif kind == "finished":
            self.run_finished = True
            ppl = f", perplexity {data['train_perplexity']:.3f}" if data["train_perplexity"] is not None else ""
            progress.set_status(f"{data['status']}: epoch {data['epoch']}/{self.epochs}{ppl}")
            for sample in data["samples"]:
                self.query_one(GenerationPane).add_sample(f"final: {sample['prefix']}", sample["text"])
        elif kind == "error":
            progress.set_status(f"error: {data['message']}")
            self.log_event(f"error: {data['message']}")

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

    def _memory(self, data: dict) -> None:
        if data.get("memory"):
            self.query_one(DeviceStatus).memory = data["memory"]

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
