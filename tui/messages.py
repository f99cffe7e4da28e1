"""Messages that workers post to the app (workers never touch widgets)."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from rnn_tui.engine import events as ev
from rnn_tui.engine.watch import RunInfo

from rnn_tui.tui.run_link import RunLink


@dataclass
class TrainingEvent(Message):
    """One event of the followed run, read back from its folder into its dataclass."""
    event: ev.Event

    def can_replace(self, message: Message) -> bool:
        """A progress report still queued is stale once a newer one is behind it."""
        return isinstance(self.event, ev.Progress) and isinstance(message, TrainingEvent) \
            and isinstance(message.event, ev.Progress)


@dataclass
class RunLaunched(Message):
    """A run this dashboard started is training, in a process of its own."""
    link: RunLink


@dataclass
class LaunchFailed(Message):
    """A run this dashboard started did not get going: why, in one line."""
    reason: str


@dataclass
class RunHistory(Message):
    """What a followed run's folder held when following began: its events so far, and its state."""
    events: list[ev.Event]
    info: RunInfo


@dataclass
class RunEnded(Message):
    """The followed run is no longer live: finished (with its status) or gone."""
    info: RunInfo


@dataclass
class GeneratedText(Message):
    """A piece of on-demand generation from a checkpoint; ``done`` closes the stream."""
    text: str
    done: bool = False
    error: str | None = None    # why generation failed
    problem: str | None = None  # why the sample could not be kept in the run's samples.txt
