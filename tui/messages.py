"""Messages that workers post to the app (workers never touch widgets)."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class TrainingEvent(Message):
    """One JSON event from the training process (``rnn-tui train --json``)."""
    data: dict


@dataclass
class TrainingExited(Message):
    returncode: int
    stderr_tail: str


@dataclass
class GeneratedText(Message):
    """A piece of on-demand generation from a checkpoint; ``done`` closes the stream."""
    text: str
    done: bool = False
    error: str | None = None
