"""What a followed run looks like on the dashboard: its events, its history, its end.

The app (tui/app.py) launches and follows runs and turns keys into commands; this mixin turns
what a run wrote into its folder into the chart, the panes, the status line and the event log.
An attached run's history is shown the same way as live events, its chart drawn in one go.
"""
from __future__ import annotations

import math
import time

from rich.text import Text

from rnn_tui.engine import events as ev
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.phases import Outcome, RunState
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.watch import epoch_points

from rnn_tui.tui.event_text import (best_text, checkpoint_text, diverged_text, ended_text, epoch_text, pause_text,
                                    write_failed_text)
from rnn_tui.tui.formatting import format_checkpoint
from rnn_tui.tui.messages import RunEnded, RunHistory, TrainingEvent
from rnn_tui.tui.widgets.config_form import ConfigForm
from rnn_tui.tui.widgets.device_status import DeviceStatus
from rnn_tui.tui.widgets.event_log import EventLog
from rnn_tui.tui.widgets.generation_pane import GenerationPane
from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart
from rnn_tui.tui.widgets.progress_panel import ProgressPanel


MAX_SHOWN_LOSS = 700.0  # nats: the exp of more overflows (the trainer ends such a run as diverged)


class RunView:
    """Message handlers of ``RnnTuiApp`` for the run it follows (state lives on the app)."""
    PROGRESS_DISPLAY_INTERVAL_S = 0.5
    REPLAYED_EVENTS = 300  # an attached run's latest events shown in its panes; the chart takes every epoch
    training_status = "training"  # the status line while the run trains (set by its start)

    def on_run_history(self, message: RunHistory) -> None:
        events, info = message.events, message.info
        self.run_dir = str(info.path)
        # which run the screen shows stays in sight: the event log scrolls its "attached" line away
        self.query_one(PerplexityChart).border_subtitle = Text(info.path.name + (" · attached" if self.attach_path else ""))
        start = next((event for event in reversed(events) if isinstance(event, ev.Start)), None)
        points = epoch_points(events, RunDir(info.path))
        if start:
            self._show_start(start, points)
        else:
            self.query_one(PerplexityChart).reset(history=points, total_epochs=self.epochs)
        for event in events[-self.REPLAYED_EVENTS:]:
            if isinstance(event, ev.Start):
                self.run_finished = self.training_paused = False  # resumed: what ended before goes on
            else:
                self.show_event(event, replay=True)
        if info.state == RunState.LIVE:
            self.query_one(ConfigForm).set_enabled(False)
            if info.on_this_host:
                self.query_one(DeviceStatus).track(info.pid)
            if not start:
                self.query_one(ProgressPanel).set_status("starting…")
        self.refresh_bindings()
        if self.attach_path:
            told = f"finished, {info.outcome}" if info.state == RunState.FINISHED else info.state
            self.log_event(f"attached ({told}): {len(points)} epochs so far, in {info.path}")

    def on_run_ended(self, message: RunEnded) -> None:
        info = message.info
        self.run_live = self.training_paused = False
        self.query_one(ConfigForm).set_enabled(True)
        self.query_one(DeviceStatus).track(None)
        self.refresh_bindings()
        if info.state == RunState.GONE:
            then = (f"ctrl+r resumes from its last checkpoint, epoch {self.checkpoint_epoch}"
                    if self.checkpoint_epoch else "it left no checkpoint to resume")
            text = f"gone: its process ended without finishing (killed, or the machine restarted); {then}"
            self.query_one(ProgressPanel).set_status(text)
            self.log_event(text)
        if self.quitting:
            self.exit()

    def on_training_event(self, message: TrainingEvent) -> None:
        if isinstance(message.event, ev.Start):
            self._show_start(message.event, self.query_one(PerplexityChart).points(message.event.start_epoch))
        else:
            self.show_event(message.event)

    def show_event(self, event: ev.Event, replay: bool = False) -> None:
        """One event on screen; ``replay``: from an attached run's history (its chart is drawn already)."""
        progress = self.query_one(ProgressPanel)
        match event:
            case ev.Progress():
                self._memory(event.memory)
                # every frame costs the trainer a few ms of its cores: twice a second is enough to watch.
                # Dropped, not deferred as in tui/coalesce.py: a deferred one could overwrite the epoch line
                if time.monotonic() - self._progress_shown_at < self.PROGRESS_DISPLAY_INTERVAL_S:
                    return
                self._progress_shown_at = time.monotonic()
                progress.show_progress(epoch=event.epoch, epochs=self.epochs, batch=event.batch, batches=event.batches,
                                       tokens_per_sec=event.tokens_per_sec, elapsed_s=event.elapsed_s,
                                       eta_s=event.eta_s, grad_norm=event.grad_norm, lr=event.lr)
            case ev.Epoch():
                self._memory(event.memory)
                if not replay:
                    self.query_one(PerplexityChart).add_point(event.epoch, event.train_perplexity,
                                                              event.val_perplexity, event.batch, event.batches)
                best = None if event.best_val_loss is None else math.exp(min(event.best_val_loss, MAX_SHOWN_LOSS))
                progress.show_progress(epoch=event.epoch, epochs=event.epochs, batch=None,  # the whole epoch
                                       tokens_per_sec=event.tokens_per_sec, elapsed_s=event.elapsed_s,
                                       eta_s=event.eta_s, grad_norm=event.grad_norm, lr=event.lr, best_val=best)
                self.log_event(epoch_text(event))
            case ev.Sample():
                title = f"epoch {event.epoch}" + (" (on demand)" if event.on_demand else "")
                self.query_one(GenerationPane).add_sample(title, event.text)
            case ev.Paused() | ev.Resumed():
                self.training_paused = isinstance(event, ev.Paused)
                self.refresh_bindings()
                progress.show_progress(epoch=event.epoch, batch=event.batch)  # where it waits, if no progress told it
                where = pause_text(event)
                self.log_event(where)
                progress.set_status(f"{where}: ctrl+t resumes" if self.training_paused else self.training_status)
            case ev.Checkpoint():  # written every epoch: logged when asked for (ctrl+s) or when it fails
                if event.ok:
                    self.checkpoint_epoch = event.epoch
                if self.save_requested or not event.ok:
                    self.save_requested = False
                    if event.ok:
                        self.log_event(checkpoint_text(event))
                    else:
                        self.warn(checkpoint_text(event), replay)
            case ev.WriteFailed():
                self.warn(write_failed_text(event), replay)
            case ev.Diverged():
                self.warn(diverged_text(event), replay)
            case ev.Finished():
                self.run_finished = True
                self.training_paused = False
                self.refresh_bindings()
                ppl = f", perplexity {event.train_perplexity:.3f}" if event.train_perplexity is not None else ""
                where = f"in epoch {event.epoch + 1}" if event.batch else f"epoch {event.epoch}"  # cut short
                progress.set_status(f"{event.status}: {where}/{self.epochs}{ppl}")
                # the bar and clock at the last completed epoch (or the minibatch --max-time ended at), not
                # inside the one a stop cut short
                progress.show_progress(epoch=event.epoch + 1 if event.batch else event.epoch,
                                       batch=event.batch or None, elapsed_s=event.elapsed_s, eta_s=None)
                if event.status == Outcome.UNWRITABLE:
                    self.warn(ended_text(event), replay)
                elif ended_text(event):
                    self.log_event(ended_text(event))
                if best_text(event):
                    self.log_event(best_text(event))
                for sample in event.samples:
                    self.query_one(GenerationPane).add_sample(f"final: {sample['prefix']}", sample["text"])
                if event.checkpoint:
                    self.log_event(f"{event.status}; checkpoint of {format_checkpoint(event.epoch, event.batch)} "
                                   f"in {event.checkpoint}")
            case ev.Error():
                self.run_finished = True
                self.refresh_bindings()
                self.fail(event.message, "the run failed", replay)

    def _show_start(self, event: ev.Start, history: list[dict]) -> None:
        self.epochs = event.config.get("epochs", self.epochs)
        self.train_config = TrainConfig.from_dict(event.config)
        self.query_one(ConfigForm).load(self.train_config)
        self.query_one(PerplexityChart).reset(event.floor_perplexity, history=history, total_epochs=self.epochs)
        self.query_one(DeviceStatus).set_device(event.device)
        progress = self.query_one(ProgressPanel)
        self.training_status = f"training {event.config['model']} on {event.device}"
        progress.set_status(self.training_status)
        progress.reset(epoch=event.start_epoch + 1, epochs=self.epochs, batch=0, batches=event.batches_per_epoch)
        floor = f", floor {event.floor_perplexity:.3f}" if event.floor_perplexity else ""
        self.log_event(f"start: {event.corpus.get('name')}, vocab {event.vocab_size}, "
                       f"{event.num_parameters:,} parameters{floor}; run {self.run_dir}")

    def _memory(self, memory: dict | None) -> None:
        if memory:
            self.query_one(DeviceStatus).memory = memory

    def log_event(self, text: str) -> None:
        self.query_one(EventLog).add(text)

    def warn(self, text: str, replay: bool = False, severity: str = "warning", title: str = "") -> None:
        """A line for the log, and as a toast the whole of it: the log cuts a line at its edge."""
        self.log_event(text)
        if not replay:
            self.notify(text, title=title, severity=severity, markup=False, timeout=15)

    def fail(self, reason: str, title: str, replay: bool = False) -> None:
        """An error: on the status line and in the log, and whole in a toast."""
        self.query_one(ProgressPanel).set_status(f"error: {reason}")
        self.warn(f"error: {reason}", replay, severity="error", title=title)
