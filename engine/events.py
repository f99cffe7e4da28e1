"""The trainer's events: the contract between the engine and every front end.

Each event is a small dataclass; ``to_dict()`` gives the JSON object that ``rnn-tui train --json``
prints, with the event's name under ``"event"``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar


@dataclass
class Event:
    event: ClassVar[str] = "event"

    def to_dict(self) -> dict:
        return {"event": self.event, **asdict(self)}


@dataclass
class Start(Event):
    event: ClassVar[str] = "start"
    config: dict
    vocab_size: int
    corpus: dict                # name, description, tokens, train_tokens, val_tokens, ...
    device: str
    num_parameters: int
    batches_per_epoch: int
    floor_perplexity: float | None = None  # best achievable perplexity, when the corpus knows it
    start_epoch: int = 0        # > 0 when resuming
    run_dir: str | None = None


@dataclass
class Progress(Event):
    event: ClassVar[str] = "progress"
    epoch: int
    batch: int
    batches: int
    train_perplexity: float     # running, over this epoch's minibatches so far
    tokens_per_sec: float
    elapsed_s: float
    memory: dict = field(default_factory=dict)


@dataclass
class Epoch(Event):
    event: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_perplexity: float
    val_perplexity: float | None
    tokens_per_sec: float
    grad_norm: float            # mean pre-clip global norm over the epoch's minibatches
    elapsed_s: float
    eta_s: float
    train_loss: float
    memory: dict = field(default_factory=dict)


@dataclass
class Sample(Event):
    event: ClassVar[str] = "sample"
    epoch: int
    prefix: str
    text: str                   # the prefix followed by what the model generated
    temperature: float
    on_demand: bool = False


@dataclass
class Paused(Event):
    event: ClassVar[str] = "paused"
    epoch: int
    batch: int


@dataclass
class Resumed(Event):
    event: ClassVar[str] = "resumed"
    epoch: int
    batch: int


@dataclass
class Diverged(Event):
    event: ClassVar[str] = "diverged"
    epoch: int
    loss: float
    restored_epoch: int         # the weights kept are those after this epoch


@dataclass
class Checkpoint(Event):
    event: ClassVar[str] = "checkpoint"
    epoch: int
    path: str
    ok: bool = True
    error: str | None = None


@dataclass
class Finished(Event):
    event: ClassVar[str] = "finished"
    status: str                 # completed | stopped | interrupted | diverged
    epoch: int                  # last completed epoch
    train_perplexity: float | None
    val_perplexity: float | None
    tokens_per_sec: float | None
    device: str
    elapsed_s: float
    samples: list = field(default_factory=list)  # [{"prefix", "text"}]: d2l's closing predictions
    reason: str | None = None   # the signal's name when interrupted
    checkpoint: str | None = None
    run_dir: str | None = None


@dataclass
class Error(Event):
    event: ClassVar[str] = "error"
    message: str
    kind: str = "error"         # input | oom | error
