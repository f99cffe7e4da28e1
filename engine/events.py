"""The trainer's events: the contract between the engine and every front end.

Each event is a small dataclass; ``to_dict()`` gives the JSON object that ``rnn-tui train --json``
prints, with the event's name under ``"event"``, and ``from_dict`` turns such an object back into
the dataclass, so a front end in another process reads typed events too. docs/events.md describes
every field (a test keeps it in step with this file).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from rnn_tui.engine.schema import conform, finite


@dataclass
class Event:
    event: ClassVar[str] = "event"

    def to_dict(self) -> dict:
        """The JSON object; a number that is not finite (NaN, ±inf) is ``None``, so the line is JSON."""
        return {"event": self.event, **finite(asdict(self))}


@dataclass
class Start(Event):
    """The run is set up: what it trains, on what, and from which epoch."""
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
    kernels: dict = field(default_factory=dict)  # setting, recurrence, generation (engine/kernels)
    world_size: int = 1         # processes training it together (torchrun)
    backend: str | None = None  # their torch.distributed backend: gloo, nccl; None for one process


@dataclass
class Progress(Event):
    """Within an epoch, a few times a second."""
    event: ClassVar[str] = "progress"
    epoch: int
    batch: int
    batches: int
    train_perplexity: float | None  # running, over this epoch's minibatches so far; None once it overflows
    tokens_per_sec: float
    elapsed_s: float
    memory: dict = field(default_factory=dict)
    lr: float | None = None     # the learning rate of the latest minibatch
    grad_norm: float | None = None  # mean pre-clip global norm over this epoch's minibatches so far
    eta_s: float | None = None  # seconds left in the run at its pace so far (or of --max-time)


@dataclass
class Epoch(Event):
    """An epoch is done: its metrics."""
    event: ClassVar[str] = "epoch"
    epoch: int
    epochs: int
    train_perplexity: float
    val_perplexity: float | None
    tokens_per_sec: float
    grad_norm: float            # mean pre-clip global norm over the epoch's minibatches
    elapsed_s: float
    eta_s: float
    train_loss: float           # mean cross-entropy over the epoch's minibatches, nats
    memory: dict = field(default_factory=dict)
    val_loss: float | None = None   # nats per token over the held-out text; None when not validated
    val_bpc: float | None = None    # val_loss in bits (per character, or per word with --tokens word)
    lr: float | None = None         # the learning rate of the epoch's last minibatch
    eval_s: float = 0.0             # seconds validation took (not in tokens_per_sec)
    best_epoch: int | None = None   # the epoch with the lowest val_loss so far (best.pt holds it)
    best_val_loss: float | None = None
    # --eval windows:N:L: nanoGPT's measure of the same held-out text (N windows of L tokens, state reset)
    val_loss_windows: float | None = None
    val_bpc_windows: float | None = None
    val_perplexity_windows: float | None = None
    val_loss_windows_se: float | None = None  # its standard error over the N windows: another draw moves it about this
    # --max-time may end an epoch between two minibatches: then batch < batches
    batch: int | None = None        # minibatches of the epoch trained
    batches: int | None = None      # minibatches in the epoch


@dataclass
class Sample(Event):
    """Text generated from the prefix, every --sample-every epochs or on demand."""
    event: ClassVar[str] = "sample"
    epoch: int
    prefix: str
    text: str                   # the prefix followed by what the model generated
    temperature: float
    on_demand: bool = False


@dataclass
class Paused(Event):
    """Training waits between two minibatches."""
    event: ClassVar[str] = "paused"
    epoch: int
    batch: int


@dataclass
class Resumed(Event):
    """Training goes on after a pause."""
    event: ClassVar[str] = "resumed"
    epoch: int
    batch: int


@dataclass
class Diverged(Event):
    """The loss or the gradients went non-finite (or the perplexity overflowed): the last good weights
    are back and the run ends."""
    event: ClassVar[str] = "diverged"
    epoch: int
    loss: float | None          # the epoch's mean loss in nats; None (null) when it is not a number
    restored_epoch: int         # the weights kept are those after this epoch


@dataclass
class Checkpoint(Event):
    """A checkpoint was written, or writing it failed (the previous one is intact)."""
    event: ClassVar[str] = "checkpoint"
    epoch: int
    path: str
    ok: bool = True
    error: str | None = None
    batch: int = 0              # minibatches of the next epoch it holds too (--max-time ended that one early)


@dataclass
class WriteFailed(Event):
    """A file of the run folder could not be written (a full disk, a folder gone); training goes on."""
    event: ClassVar[str] = "write_failed"
    path: str
    error: str


@dataclass
class Finished(Event):
    """The run is over, for the reason ``status`` gives; d2l's closing line and predictions."""
    event: ClassVar[str] = "finished"
    status: str                 # completed | stopped | pruned | interrupted | diverged | early-stopped | time-up | unwritable
    epoch: int                  # last completed epoch
    train_perplexity: float | None
    val_perplexity: float | None
    tokens_per_sec: float | None
    device: str
    elapsed_s: float
    samples: list = field(default_factory=list)  # [{"prefix", "text"}]: d2l's closing predictions
    reason: str | None = None   # the signal's name when interrupted; why, when early-stopped or time-up
    checkpoint: str | None = None
    run_dir: str | None = None
    best_epoch: int | None = None
    best_val_loss: float | None = None
    best_checkpoint: str | None = None
    batch: int = 0              # minibatches of epoch + 1 trained too (--max-time ended it early; the checkpoint has them)


@dataclass
class Error(Event):
    """The run could not go on (bad input, out of memory, a fault); one line for the user."""
    event: ClassVar[str] = "error"
    message: str
    kind: str = "error"         # input | oom | error


EVENT_TYPES: dict[str, type[Event]] = {cls.event: cls for cls in
                                       (Start, Progress, Epoch, Sample, Paused, Resumed, Diverged, Checkpoint,
                                        WriteFailed, Finished, Error)}


def from_dict(data: dict) -> Event:
    """The event a JSON object describes (``to_dict``'s inverse); ValueError for anything else.

    Keys this version does not know are left out, so a newer trainer's events still read; a field of the
    wrong type is refused (engine/schema.py)."""
    cls = EVENT_TYPES.get(data.get("event")) if isinstance(data, dict) else None
    if cls is None:
        raise ValueError(f"not an rnn-tui event: {str(data)[:80]}")
    return conform(cls, data, f"a {cls.event} event")  # each field's type checked: Damaged is a ValueError
