"""One schema for what rnn-tui writes and reads back: every field's type and bounds, checked on read.

A file rnn-tui wrote is input when it is read again: a disk, an editor, another version of rnn-tui
or a person may have changed it. Each record is a dataclass whose annotations are its types and
whose ``field(metadata=...)`` holds its bounds (``BOUNDS``); ``conform`` builds the dataclass from
what was read, or raises ``Damaged`` naming the field and what it held, in one line. Events
(engine/events.py), the per-epoch lines of ``metrics.jsonl`` (an epoch event's fields),
``status.json`` (``RunStatus``) and checkpoints (``CheckpointState``) are all read through it.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from functools import cache

from rnn_tui.engine.phases import Phase

LATEST_TIME = 1e11  # Unix seconds (the year 5138): a later timestamp is damage, not a date


class Damaged(ValueError):
    """A record that does not hold what its schema says: one line for the user."""


def bounded(low: float | None = None, high: float | None = None, **kwargs):
    """A dataclass field whose number must lie in [low, high]."""
    return field(metadata={"low": low, "high": high}, **kwargs)


def _kind(value) -> str:
    return type(value).__name__


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value) -> bool:  # JSON writes 2.0 as 2: a float field takes an int, never a bool or NaN
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@cache
def _checker(annotation):
    """A function telling whether a value fits ``annotation`` (int, float, str, bool, dict, list[T], T | None)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [_checker(option) for option in typing.get_args(annotation)]
        return lambda value: any(fits(value) for fits in options)
    if origin is list:
        (item,) = typing.get_args(annotation)
        fits_item = _checker(item)
        return lambda value: isinstance(value, list) and all(fits_item(v) for v in value)
    simple = {type(None): lambda value: value is None, bool: lambda value: isinstance(value, bool),
              int: _is_int, float: is_number, typing.Any: lambda value: True}
    if annotation in simple:
        return simple[annotation]
    kind = origin or annotation
    return lambda value: isinstance(value, kind)


@cache
def _plan(cls) -> tuple:
    """(name, type, its checker, required, low, high) per field of ``cls``, worked out once: records are read by the thousand."""
    hints = typing.get_type_hints(cls)
    return tuple((spec.name, hints[spec.name], _checker(hints[spec.name]),
                  spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING,
                  spec.metadata.get("low"), spec.metadata.get("high"))
                 for spec in dataclasses.fields(cls) if spec.init)


def conform(cls, data, where: str):
    """``cls`` built from ``data`` (a dict read from ``where``); keys ``cls`` does not know are left out, so a
    newer writer's records still read. Damaged, naming the field, for anything else."""
    if not isinstance(data, dict):
        raise Damaged(f"{where}: holds {_kind(data)}, not a record")
    values = {}
    for name, annotation, fits, required, low, high in _plan(cls):
        if name not in data:
            if required:
                raise Damaged(f"{where}: no {name}")
            continue
        value = data[name]
        if not fits(value):
            raise Damaged(f"{where}: {name} holds {_shown(value)}, not {_typename(annotation)}")
        if low is not None and isinstance(value, (int, float)) and value < low:
            raise Damaged(f"{where}: {name} holds {value!r}, below {low:g}")
        if high is not None and isinstance(value, (int, float)) and value > high:
            raise Damaged(f"{where}: {name} holds {value!r}, above {high:g}")
        values[name] = value
    return cls(**values)


def finite(value):
    """``value`` with every number that is not finite (NaN, ±inf) as None: what a reader of the schema takes."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def _shown(value) -> str:
    text = repr(value)
    return f"{_kind(value)} {text if len(text) <= 40 else text[:37] + '...'}"


def _typename(annotation) -> str:
    if isinstance(annotation, type) and typing.get_origin(annotation) is None:
        return annotation.__name__
    return str(annotation).replace("typing.", "").replace("NoneType", "null")


@dataclass
class RunStatus:
    """``status.json``: who trains a run and how far it got (docs/runs.md)."""
    pid: int | None = bounded(1, 2**32, default=None)
    host: str | None = None
    started_at: float | None = bounded(0, LATEST_TIME, default=None)
    process_started: float | None = bounded(0, LATEST_TIME, default=None)
    state: str | None = None
    device: str | None = None
    batches_per_epoch: int | None = bounded(1, None, default=None)
    epoch: int | None = bounded(0, None, default=None)
    epochs: int | None = bounded(1, None, default=None)
    train_perplexity: float | None = None
    val_perplexity: float | None = None
    tokens_per_sec: float | None = bounded(0, None, default=None)
    best_val_perplexity: float | None = None
    best_val_epoch: int | None = bounded(0, None, default=None)
    best_val_loss_windows: float | None = None  # nats, --eval windows:N:L's measure
    progress: dict | None = None
    finished: str | None = None
    error: str | None = None
    updated_at: float | None = bounded(0, LATEST_TIME, default=None)

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in set(Phase):
            raise Damaged(f"status.json: state holds {self.state!r}, not {', '.join(Phase)}")


@dataclass
class CheckpointState:
    """What a checkpoint holds besides its format mark: everything to resume a run exactly."""
    epoch: int = bounded(0, None)
    config: dict
    vocab: list[str]
    model_state: dict
    optimizer_state: dict
    rng: dict
    history: list[dict]
    elapsed_s: float = bounded(0, None, default=0.0)
    best: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    underway: dict | None = None  # EpochUnderway: the epoch after ``epoch``, ended early by --max-time


@dataclass
class EpochUnderway:
    """An epoch that ``--max-time`` ended between two minibatches: where it was, to go on from there exactly."""
    batch: int = bounded(1, None)  # minibatches of the epoch trained
    rng_at_start: tuple | list     # the sampler's RNG before it drew the epoch's minibatches
    state: tuple | None            # the recurrent state carried into the next minibatch, every rank's rows
    loss_sum: float                # nats summed over the minibatches trained, every rank's
    norm_sum: float                # the pre-clip gradient norms summed over them
    train_s: float = bounded(0, None)


@dataclass
class BestEpoch:
    """A checkpoint's ``best``: the epoch of the lowest validation loss so far, and that loss."""
    epoch: int = bounded(1, None)
    val_loss: float


@dataclass
class MetricsLine:
    """A line of ``metrics.jsonl`` as its readers use it (an epoch event's fields, engine/events.py)."""
    epoch: int = bounded(1, None)
    epochs: int | None = bounded(1, None, default=None)
    train_perplexity: float | None = None
    val_perplexity: float | None = None
    tokens_per_sec: float | None = bounded(0, None, default=None)
    grad_norm: float | None = None
    elapsed_s: float | None = bounded(0, None, default=None)
    batch: int | None = bounded(1, None, default=None)    # < batches: --max-time ended the epoch early
    batches: int | None = bounded(1, None, default=None)
