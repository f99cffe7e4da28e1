"""What a run's events say in words, for the headless lines and the dashboard's log alike.

Each function words one event kind once; a front end adds only what it shows elsewhere (the
command line's speed and ETA, which the dashboard has in its progress panel) or how it shows it
(``warning:`` on stderr, a toast).
"""
from __future__ import annotations

from rnn_tui.engine import events as ev
from rnn_tui.engine.phases import Outcome
from rnn_tui.tui.formatting import format_checkpoint, format_epoch


def validation_text(event: ev.Epoch) -> str:
    """``val 5.123 (1.6335 nats), windows 1.6402 ± 0.0150 nats``, or nothing before a validation."""
    text = f"val {event.val_perplexity:.3f} ({event.val_loss:.4f} nats)" if event.val_loss is not None else ""
    if event.val_loss_windows is not None:
        error = f" ± {event.val_loss_windows_se:.4f}" if event.val_loss_windows_se is not None else ""
        text += f", windows {event.val_loss_windows:.4f}{error} nats"
    return text


def epoch_text(event: ev.Epoch, epochs: int | None = None) -> str:
    """``epoch 3/10: perplexity 6.012, val 5.123 (1.6335 nats)``."""
    val = validation_text(event)
    return (f"{format_epoch(event.epoch, epochs, event.batch, event.batches)}: perplexity "
            f"{event.train_perplexity:.3f}" + (f", {val}" if val else ""))


def pause_text(event: ev.Paused | ev.Resumed) -> str:
    return f"{event.event} at epoch {event.epoch}, minibatch {event.batch}"


def checkpoint_text(event: ev.Checkpoint) -> str:
    """Where a checkpoint went, or why it did not."""
    where = format_checkpoint(event.epoch, event.batch)
    if event.ok:
        return f"checkpoint of {where} in {event.path}"
    return f"checkpoint of {where} FAILED: {event.error} in {event.path}"


def write_failed_text(event: ev.WriteFailed) -> str:
    return f"cannot write {event.path} ({event.error}); training goes on"


def diverged_text(event: ev.Diverged) -> str:
    return (f"diverged at epoch {event.epoch} (loss {event.loss}); kept the weights of epoch "
            f"{event.restored_epoch}: try a lower --lr, or --clip 1")


def ended_text(event: ev.Finished) -> str | None:
    """Why a run ended before its epochs, where that needs saying."""
    if event.status in (Outcome.EARLY_STOPPED, Outcome.TIME_UP, Outcome.UNWRITABLE):
        return f"{event.status}: {event.reason}"
    return None


def finished_checkpoint_text(event: ev.Finished) -> str | None:
    """``completed; checkpoint of epoch 10 in runs/x/checkpoint.pt``, if the run left one."""
    if not event.checkpoint:
        return None
    return f"{event.status}; checkpoint of {format_checkpoint(event.epoch, event.batch)} in {event.checkpoint}"


def best_text(event: ev.Finished) -> str | None:
    """``best: runs/x/best.pt (epoch 7, val loss 1.4123 nats)``."""
    if event.best_epoch is None:
        return None
    told = f"epoch {event.best_epoch}, val loss {event.best_val_loss:.4f} nats"
    return f"best: {event.best_checkpoint} ({told})" if event.best_checkpoint else f"best: {told}"
