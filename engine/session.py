"""A recorded run: the trainer's events, written to a run folder, with checkpoints.

Both front ends use this: ``rnn-tui train`` prints the events, the dashboard's training process
streams them as JSON. Checkpoints are written every ``checkpoint_every`` epochs and when the run
ends for any reason (completed, stopped, interrupted, diverged, out of memory), always from the
trainer's snapshot of the last completed epoch, so resuming is exact.
"""
from __future__ import annotations

from collections.abc import Iterator

from . import events as ev
from .checkpoint import save_checkpoint
from .runs import RunDir
from .trainer import Trainer


def recorded_run(trainer: Trainer, run: RunDir, resumed: bool = False) -> Iterator[ev.Event]:
    every = trainer.config.checkpoint_every
    saved_epoch: int | None = None

    def checkpoint(force: bool = False) -> Iterator[ev.Event]:
        nonlocal saved_epoch
        state = trainer.checkpoint_state()
        if state is None or (state["epoch"] == saved_epoch and not force):
            return
        try:
            save_checkpoint(state, run.checkpoint_path)
        except OSError as exc:
            # Reported, not fatal: the previous checkpoint is intact and training goes on.
            yield ev.Checkpoint(epoch=state["epoch"], path=str(run.checkpoint_path), ok=False,
                                error=f"{exc.strerror or exc}")
            return
        saved_epoch = state["epoch"]
        yield ev.Checkpoint(epoch=state["epoch"], path=str(run.checkpoint_path))

    events = trainer.run()
    try:
        for event in events:
            if isinstance(event, ev.Start):
                event.run_dir = str(run.path)
                if resumed:
                    run.truncate_metrics(event.start_epoch)
                    saved_epoch = event.start_epoch
                run.create(trainer.config.to_dict())
                yield event
            elif isinstance(event, ev.Epoch):
                run.append_metrics({k: v for k, v in event.to_dict().items() if k not in ("event", "memory")})
                yield event
                if event.epoch % every == 0:
                    yield from checkpoint()
            elif isinstance(event, ev.Sample):
                if not event.on_demand:
                    run.append_sample(event.epoch, event.text)
                yield event
            elif isinstance(event, ev.Finished):
                for sample in event.samples:
                    run.append_sample(event.epoch, sample["text"], final=True)
                yield from checkpoint()
                event.run_dir = str(run.path)
                event.checkpoint = str(run.checkpoint_path) if run.checkpoint_path.exists() else None
                yield event
            else:
                yield event
            if trainer.control.take_save_request():
                yield from checkpoint(force=True)
    except BaseException:
        # Out of memory, a bug, Ctrl-C twice: keep the last completed epoch before giving up.
        if run.path.exists():
            for _ in checkpoint():
                pass
        raise
