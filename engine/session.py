"""A recorded run: prepared from options or from a checkpoint, its events written to a run folder.

Both front ends use this: ``rnn-tui train`` prints the events, the dashboard's training process
streams them as JSON. ``prepare_run`` holds the policy (the corpus's own defaults, what a resumed
run may change, when resuming would not be exact); ``recorded_run`` writes ``config.json``,
metrics, samples and checkpoints as the trainer's events go by. Checkpoints are written every
``checkpoint_every`` epochs and when the run ends for any reason (completed, stopped, interrupted,
diverged, out of memory), always from the trainer's snapshot of the last completed epoch (or of the
minibatch where ``--max-time`` ended one), so resuming is exact; ``best.pt`` is that snapshot at each
new lowest validation loss.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..corpora import CorpusError, LoadedCorpus, load_corpus, load_file_corpus
from . import events as ev
from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from .config import RESUME_OVERRIDES, TrainConfig
from .control import TrainControl
from .distributed import World
from .runs import RunDir, default_run_dir, folder_problem
from .schedule import format_duration
from .watch import run_info
from .trainer import Trainer, TrainingInputError

DEFAULT_PREFIX = "time traveller"  # d2l's, for a corpus that has no prompt of its own


def load_corpus_for(config: TrainConfig) -> LoadedCorpus:
    """Load the config's corpus and fill in what depends on it: preprocessing, token cap, prompt."""
    try:
        if config.corpus_file:
            corpus = load_file_corpus(config.corpus_file, config.encoding, config.encoding_errors,
                                      config.max_tokens or 0)
        else:
            corpus = load_corpus(config.corpus, config.max_tokens or 0)
    except CorpusError as exc:
        raise TrainingInputError(str(exc)) from None
    if config.preprocess is None:
        config.preprocess = corpus.preprocess
    if config.max_tokens is None:
        config.max_tokens = corpus.max_tokens
    if not config.prefix:
        config.prefix = corpus.prefix or DEFAULT_PREFIX
    return corpus


@dataclass
class PreparedRun:
    """A run checked and ready to train: its config, its text, its folder, and what it resumes."""
    config: TrainConfig
    corpus: LoadedCorpus
    run: RunDir
    resume_state: dict | None = None
    ignored: tuple[str, ...] = ()  # options given with --resume that the checkpoint's own config overrules

    def events(self, control: TrainControl | None = None, world: World | None = None) -> Iterator[ev.Event]:
        """The run's events, recorded in its folder by rank 0 only (the others train and say nothing)."""
        trainer = Trainer(self.config, self.corpus.text, self.corpus.info(), control=control,
                          resume=self.resume_state, world=world)
        if world is not None and not world.main:
            return trainer.run()
        return recorded_run(trainer, self.run, resumed=self.resume_state is not None)


def prepare_run(config: TrainConfig, resume: str | None = None, overrides: dict | None = None,
                claim_folder: bool = True) -> PreparedRun:
    """The run ``config`` describes, or the one ``resume`` (a checkpoint or run folder) continues with
    ``overrides`` (the options the user gave; only ``RESUME_OVERRIDES`` apply). TrainingInputError,
    one line for the user, for anything that cannot run. ``claim_folder`` False: a rank of a torchrun
    launch other than 0, which trains beside rank 0 and never looks at the folder rank 0 writes."""
    state = None
    if resume:
        try:
            checkpoint_path = resolve_checkpoint(resume)
            state = load_checkpoint(checkpoint_path)
        except CheckpointError as exc:
            raise TrainingInputError(str(exc)) from None
        config = TrainConfig.from_dict(state["config"])
        ignored = tuple(key for key, value in (overrides or {}).items()
                        if key not in (*RESUME_OVERRIDES, "resume", "preset") and state["config"].get(key) != value)
        for key, value in (overrides or {}).items():
            if key in RESUME_OVERRIDES:
                setattr(config, key, value)
    corpus = load_corpus_for(config)
    problem = config.first_error()
    if problem:
        raise TrainingInputError(problem)
    if state is None:
        run = RunDir(config.run_dir or default_run_dir(config.model))
        config.run_dir = str(run.path)  # the record names where the run is from anywhere
        if not claim_folder:
            return PreparedRun(config, corpus, run)
        try:
            taken = any(path.exists() for path in (run.config_path, run.metrics_path, run.checkpoint_path))
        except OSError as exc:  # a name too long, a component that is a file
            raise TrainingInputError(folder_problem(run.path, exc)) from None
        if taken and run_info(run.path).state == "live":
            raise TrainingInputError(f"{run.path} is in use by a live run: attach with `rnn-tui attach {run.path}`, "
                                     f"or pick another --run-dir")
        if taken:
            raise TrainingInputError(f"{run.path} already holds a run: continue it with --resume {run.path}, "
                                     f"or pick another --run-dir")
        return PreparedRun(config, corpus, run)
    if state.get("source", {}).get("sha1") not in (None, corpus.info()["sha1"]):
        raise TrainingInputError("the corpus has changed since this checkpoint was written; "
                                 "resuming would not be exact")
    if state["epoch"] >= config.epochs:
        raise TrainingInputError(f"the checkpoint has already done {state['epoch']} epochs; pass --epochs N with N "
                                 f"above {state['epoch']} to train on")
    if config.max_time and state.get("elapsed_s", 0.0) >= config.max_time:
        raise TrainingInputError(f"the checkpoint has already trained for {format_duration(state['elapsed_s'])}, "
                                 f"all of --max-time {format_duration(config.max_time)}; pass a longer --max-time "
                                 f"(or 0, no limit) to train on")
    return PreparedRun(config, corpus, RunDir(checkpoint_path.parent), state, ignored)


UNWRITABLE = "unwritable"  # the stop reason when the run folder takes no writes


def recorded_run(trainer: Trainer, run: RunDir, resumed: bool = False) -> Iterator[ev.Event]:
    every = trainer.config.checkpoint_every
    saved_at: tuple | None = None  # (epoch, minibatches of the next) of the checkpoint last written
    failing: set[str] = set()  # the files whose last write failed (each is told once, until it works again)

    def keep(write, name: str) -> Iterator[ev.Event]:
        """One write of the run folder: a failure (a full disk, a folder gone) is told, and training goes on."""
        try:
            write()
        except (OSError, RuntimeError) as exc:  # torch.save says RuntimeError when the disk fills mid-write
            if name not in failing:
                failing.add(name)
                yield ev.WriteFailed(path=str(run.path / name), error=_reason(exc))
            return False
        failing.discard(name)
        return True

    def folder_back() -> Iterator[ev.Event]:
        """A run folder deleted while the run trains is made again: what comes next is kept."""
        if run.path.is_dir() or not started:
            return
        try:
            run.create(trainer.config.to_dict())
        except OSError:
            return  # the write that follows fails, and says why
        yield ev.WriteFailed(path=str(run.path), error="the folder was deleted while the run trained: made again; "
                                                       "its files until then and its control socket are gone")

    def checkpoint(force: bool = False) -> Iterator[ev.Event]:
        nonlocal saved_at
        state = trainer.checkpoint_state()
        if state is None or (_position(state) == saved_at and not force):
            return
        if (yield from save(state, run.checkpoint_path)):
            saved_at = _position(state)
            yield ev.Checkpoint(epoch=state["epoch"], path=str(run.checkpoint_path), batch=saved_at[1])

    def save(state: dict, path) -> Iterator[ev.Event]:
        try:
            save_checkpoint(state, path)
        except (OSError, RuntimeError) as exc:
            # Reported, not fatal: the previous checkpoint is intact and training goes on.
            yield ev.Checkpoint(epoch=state["epoch"], path=str(path), ok=False, error=_reason(exc))
            return False
        return True

    events = trainer.run()
    started = False
    try:
        for event in events:
            if not isinstance(event, ev.Progress):
                yield from folder_back()
            if isinstance(event, ev.Start):
                started = True
                event.run_dir = str(run.path)
                if resumed:
                    run.truncate_metrics(event.start_epoch)
                    saved_at = _position(trainer.checkpoint_state())
                    _forget_best_after(run, event.start_epoch)
                try:
                    run.make()
                except OSError as exc:  # nothing has trained yet: the folder given is the problem
                    raise TrainingInputError(folder_problem(run.path, exc)) from None
                yield from keep(lambda: run.create(trainer.config.to_dict()), "config.json")
                yield event
            elif isinstance(event, ev.Epoch):
                record = {k: v for k, v in event.to_dict().items() if k not in ("event", "memory")}
                wrote = yield from keep(lambda: run.append_metrics(record), "metrics.jsonl")
                yield event
                if event.best_epoch == event.epoch:  # the snapshot of this epoch is the best so far
                    wrote = (yield from save(trainer.checkpoint_state(), run.best_path)) or wrote
                # an epoch --max-time cut is kept at once: the closing samples come before the end's checkpoint
                if event.epoch % every == 0 or event.batch != event.batches:
                    before = saved_at
                    yield from checkpoint()
                    wrote = wrote or saved_at != before
                if not wrote:  # a whole epoch and not a byte kept: training on would be for nothing
                    trainer.control.request_stop(UNWRITABLE)
            elif isinstance(event, ev.Sample):  # on demand too (ctrl+g, rnn-tui control sample): kept with the rest
                note = f"on demand (t={event.temperature:g})" if event.on_demand else ""
                yield from keep(lambda: run.append_sample(event.epoch, event.text, note), "samples.txt")
                yield event
            elif isinstance(event, ev.Finished):
                for sample in event.samples:
                    yield from keep(lambda: run.append_sample(event.epoch, sample["text"], "final"), "samples.txt")
                yield from checkpoint()
                event.run_dir = str(run.path)
                event.checkpoint = str(run.checkpoint_path) if run.checkpoint_path.exists() else None
                event.best_checkpoint = str(run.best_path) if run.best_path.exists() else None
                if trainer.control.stop_reason == UNWRITABLE:
                    event.status, event.reason = "unwritable", f"nothing could be written to {run.path} for a whole epoch"
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


def _position(state: dict) -> tuple[int, int]:
    """How far a checkpoint's run trained: (epochs, minibatches of the next)."""
    return state["epoch"], (state.get("underway") or {}).get("batch", 0)


def _reason(exc: BaseException) -> str:
    return (getattr(exc, "strerror", None) or str(exc).splitlines()[0] or type(exc).__name__)[:200]


def _forget_best_after(run: RunDir, epoch: int) -> None:
    """A best.pt from epochs the resumed run trains again belongs to a history that is gone."""
    try:
        stale = run.best_path.exists() and load_checkpoint(run.best_path)["epoch"] > epoch
    except CheckpointError:
        stale = True
    if stale:
        run.best_path.unlink(missing_ok=True)
