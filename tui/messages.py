"""Messages that workers post to the app (workers never touch widgets)."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ..engine import events as ev


@dataclass
class TrainingEvent(Message):
    """One event from the training process, read back into its dataclass."""
    event: ev.Event

    def can_replace(self, message: Message) -> bool:
        """A progress report still queued is stale once a newer one is behind it."""
        return isinstance(self.event, ev.Progress) and isinstance(message, TrainingEvent) \
            and isinstance(message.event, ev.Progress)


@dataclass
class TrainingExited(Message):
    """The training process has ended: its exit status and the tail of its stderr."""
    returncode: int
    stderr_tail: str


@dataclass
class GeneratedText(Message):
    """A piece of on-demand generation from a checkpoint; ``done`` closes the stream."""
    text: str
    done: bool = False
    error: str | None = None
