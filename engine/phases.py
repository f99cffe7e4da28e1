"""The words a run's life is told in: its phase, how it ended, and how a watcher finds it.

Each is a ``str`` enum: written to status.json and to events as its plain value, equal to that
value, and read back from a file as the same member.
"""
from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    __str__ = str.__str__  # "live", not "RunState.LIVE", in messages on every Python from 3.10
    __format__ = str.__format__


class Phase(_Word):
    """What a run's own process says it is doing (status.json's ``state``)."""
    STARTING = "starting"
    TRAINING = "training"
    PAUSED = "paused"
    FINISHED = "finished"


class Outcome(_Word):
    """How a run ended: the finished event's ``status``, status.json's ``finished``."""
    COMPLETED = "completed"
    STOPPED = "stopped"          # by its user
    PRUNED = "pruned"            # by a sweep
    INTERRUPTED = "interrupted"  # by a signal
    DIVERGED = "diverged"
    EARLY_STOPPED = "early-stopped"
    TIME_UP = "time-up"
    UNWRITABLE = "unwritable"    # nothing could be written to its folder for a whole epoch
    ERROR = "error"              # status.json only: the run failed (the error event says why)


class RunState(_Word):
    """A run as a watcher finds it (engine/watch.py)."""
    LIVE = "live"          # its process runs
    FINISHED = "finished"  # it wrote how it ended
    GONE = "gone"          # it did neither: killed, or the machine restarted; it resumes from its last checkpoint
