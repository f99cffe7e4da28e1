"""What a followed run looks like on the dashboard: its events, its history, its end.

The app (tui/app.py) launches and follows runs and turns keys into commands; this mixin turns
what a run wrote into its folder into the chart, the panes, the status line and the event log.
An attached run's history is shown the same way as live events, its chart drawn in one go.
"""
from __future__ import annotations

import math
from time import monotonic

from rich.text import Text

from rnn_tui.engine import events as ev
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.phases import Outcome, RunState
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.watch import epoch_points

from rnn_tui.tui.event_text import (best_text, checkpoint_text, diverged_text, ended_text, epoch_text,
                                    finished_checkpoint_text, pause_text, write_failed_text)
from rnn_tui.tui.messages import RunEnded, RunHistory, TrainingEvent
from rnn_tui.tui.run_on_screen import RunOnScreen
from rnn_tui.tui.widgets.config_form import ConfigForm
from rnn_tui.tui.widgets.device_status import DeviceStatus
from rnn_tui.tui.widgets.event_log import EventLog
from rnn_tui.tui.widgets.generation_pane import GenerationPane
from rnn_tui.tui.widgets.perplexity_chart import PerplexityChart
from rnn_tui.tui.widgets.progress_panel import ProgressPanel


MAX_SHOWN_LOSS = 700.0  # nats: the exp of more overflows (the trainer ends such a run as diverged)


class RunView:
    """Message handlers of ``RnnTuiApp`` for the run it follows: they draw, and change the app's one
    ``state`` (tui/run_on_screen.py) where an event changes what the run is."""
    PROGRESS_DISPLAY_INTERVAL_S = 0.5
    REPLAYED_EVENTS = 300  # an attached run's latest events shown in its panes; the chart takes every epoch
    state: RunOnScreen
    train_config: TrainConfig  # the form's
    training_status = "training"  # the status line while the run trains (set by its start)
    _progress_shown_at = 0.0

    def on_run_history(self, message: RunHistory) -> None:
        events, info = message.events, message.info
        self.state = self.state.but(run_dir=str(info.path))
        attached = self.state.attach_path
        # which run the screen shows stays in sight: the event log scrolls its "attached" line away
        self.query_one(PerplexityChart).border_subtitle = Text(info.path.name + (" · attached" if attached else ""))
        start = next((event for event in reversed(events) if isinstance(event, ev.Start)), None)
        points = epoch_points(events, RunDir(info.path))
        if start:
            self._show_start(start, points)
        else:
            self.query_one(PerplexityChart).reset(history=points, total_epochs=self.state.epochs)
        for event in events[-self.REPLAYED_EVENTS:]:
            if isinstance(event, ev.Start):
                self.state = self.state.but(finished=False, paused=False)  # resumed: what ended before goes on
            else:
                self.show_event(event, replay=True)
        if info.state == RunState.LIVE:
            self.query_one(ConfigForm).set_enabled(False)
            if info.on_this_host:
                self.query_one(DeviceStatus).track(info.pid)
            if not start:
                self.query_one(ProgressPanel).set_status("starting…")
        if attached:
            told = f"finished, {info.outcome}" if info.state == RunState.FINISHED else info.state
            self.log_event(f"attached ({told}): {len(points)} epochs so far, in {info.path}")

    def on_run_ended(self, message: RunEnded) -> None:
        info = message.info
        self.state = self.state.but(live=False, paused=False)
        self.query_one(ConfigForm).set_enabled(True)
        self.query_one(DeviceStatus).track(None)
        if info.state == RunState.GONE:
            epoch = self.state.checkpoint_epoch
            then = f"ctrl+r resumes from its last checkpoint, epoch {epoch}" if epoch else "it left no checkpoint to resume"
            text = f"gone: its process ended without finishing (killed, or the machine restarted); {then}"
            self.query_one(ProgressPanel).set_status(text)
            self.log_event(text)
        if self.state.quitting:
            self.exit()

    def on_training_event(self, message: TrainingEvent) -> None:
        if isinstance(message.event, ev.Start):
            self._show_start(message.event, self.query_one(PerplexityChart).points(message.event.start_epoch))
        else:
            self.show_event(message.event)

    def show_event(self, event: ev.Event, replay: bool = False) -> None:
        """One event on screen; ``replay``: from an attached run's history (its chart is drawn already)."""
        match event:
            case ev.Progress():
                self._show_progress(event)
            case ev.Epoch():
                self._show_epoch(event, replay)
            case ev.Sample():
                title = f"epoch {event.epoch}" + (" (on demand)" if event.on_demand else "")
                self.query_one(GenerationPane).add_sample(title, event.text)
            case ev.Paused() | ev.Resumed():
                self._show_pause(event)
            case ev.Checkpoint():
                self._show_checkpoint(event, replay)
            case ev.WriteFailed():
                self.warn(write_failed_text(event), replay)
            case ev.Diverged():
                self.warn(diverged_text(event), replay)
            case ev.Finished():
                self._show_finished(event, replay)
            case ev.Error():
                self.state = self.state.but(finished=True)
                self.fail(event.message, "the run failed", replay)

    def _show_progress(self, event: ev.Progress) -> None:
        self._memory(event.memory)
        # every frame costs the trainer a few ms of its cores: twice a second is enough to watch.
        # Dropped, not deferred as in tui/coalesce.py: a deferred one could overwrite the epoch line
        if monotonic() - self._progress_shown_at < self.PROGRESS_DISPLAY_INTERVAL_S:
            return
        self._progress_shown_at = monotonic()
        self.query_one(ProgressPanel).show_progress(
            epoch=event.epoch, epochs=self.state.epochs, batch=event.batch, batches=event.batches,
            tokens_per_sec=event.tokens_per_sec, elapsed_s=event.elapsed_s, eta_s=event.eta_s,
            grad_norm=event.grad_norm, lr=event.lr)

    def _show_epoch(self, event: ev.Epoch, replay: bool) -> None:
        self._memory(event.memory)
        if not replay:
            self.query_one(PerplexityChart).add_point(event.epoch, event.train_perplexity, event.val_perplexity,
                                                      event.batch, event.batches)
        best = None if event.best_val_loss is None else math.exp(min(event.best_val_loss, MAX_SHOWN_LOSS))
        self.query_one(ProgressPanel).show_progress(
            epoch=event.epoch, epochs=event.epochs, batch=None,  # the whole epoch
            tokens_per_sec=event.tokens_per_sec, elapsed_s=event.elapsed_s, eta_s=event.eta_s,
            grad_norm=event.grad_norm, lr=event.lr, best_val=best)
        self.log_event(epoch_text(event))

    def _show_pause(self, event: ev.Paused | ev.Resumed) -> None:
        self.state = self.state.but(paused=isinstance(event, ev.Paused))
        progress = self.query_one(ProgressPanel)
        progress.show_progress(epoch=event.epoch, batch=event.batch)  # where it waits, if no progress told it
        where = pause_text(event)
        self.log_event(where)
        progress.set_status(f"{where}: ctrl+t resumes" if self.state.paused else self.training_status)

    def _show_checkpoint(self, event: ev.Checkpoint, replay: bool) -> None:
        """Written every epoch: logged when asked for (ctrl+s) or when it fails."""
        if event.ok:
            self.state = self.state.but(checkpoint_epoch=event.epoch)
        if self.state.save_requested or not event.ok:
            self.state = self.state.but(save_requested=False)
            if event.ok:
                self.log_event(checkpoint_text(event))
            else:
                self.warn(checkpoint_text(event), replay)

    def _show_finished(self, event: ev.Finished, replay: bool) -> None:
        self.state = self.state.but(finished=True, paused=False)
        progress = self.query_one(ProgressPanel)
        ppl = f", perplexity {event.train_perplexity:.3f}" if event.train_perplexity is not None else ""
        where = f"in epoch {event.epoch + 1}" if event.batch else f"epoch {event.epoch}"  # cut short
        progress.set_status(f"{event.status}: {where}/{self.state.epochs}{ppl}")
        # the bar and clock at the last completed epoch (or the minibatch --max-time ended at), not
        # inside the one a stop cut short
        progress.show_progress(epoch=event.epoch + 1 if event.batch else event.epoch,
                               batch=event.batch or None, elapsed_s=event.elapsed_s, eta_s=None)
        ended = ended_text(event)
        if ended and event.status == Outcome.UNWRITABLE:
            self.warn(ended, replay)
        elif ended:
            self.log_event(ended)
        for sample in event.samples:
            self.query_one(GenerationPane).add_sample(f"final: {sample['prefix']}", sample["text"])
        for line in (best_text(event), finished_checkpoint_text(event)):
            if line:
                self.log_event(line)

    def _show_start(self, event: ev.Start, history: list[dict]) -> None:
        epochs = event.config.get("epochs", self.state.epochs)
        self.state = self.state.but(epochs=epochs)
        self.train_config = TrainConfig.from_dict(event.config)
        self.query_one(ConfigForm).load(self.train_config)
        self.query_one(PerplexityChart).reset(event.floor_perplexity, history=history, total_epochs=epochs)
        self.query_one(DeviceStatus).set_device(event.device)
        progress = self.query_one(ProgressPanel)
        self.training_status = f"training {event.config['model']} on {event.device}"
        progress.set_status(self.training_status)
        progress.reset(epoch=event.start_epoch + 1, epochs=self.state.epochs, batch=0, batches=event.batches_per_epoch)
        floor = f", floor {event.floor_perplexity:.3f}" if event.floor_perplexity else ""
        self.log_event(f"start: {event.corpus.get('name')}, vocab {event.vocab_size}, "
                       f"{event.num_parameters:,} parameters{floor}; run {self.state.run_dir}")

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
