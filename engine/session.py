"""A recorded run: prepared from options or from a checkpoint, its events written to a run folder.

Both front ends use this: ``rnn-tui train`` prints the events, the dashboard's training process
streams them as JSON. ``prepare_run`` holds the policy (the corpus's own defaults, what a resumed
run may change, when resuming would not be exact); ``recorded_run`` writes ``config.json``,
metrics, samples and checkpoints as the trainer's events go by. Checkpoints are written every
``checkpoint_every`` epochs and when the run ends for any reason (completed, stopped, interrupted,
diverged, out of memory), always from the trainer's snapshot of the last completed epoch, so
resuming is exact.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..corpora import CorpusError, LoadedCorpus, load_corpus, load_file_corpus
from . import events as ev
from .checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from .config import TrainConfig
from .control import TrainControl
from .runs import RunDir, default_run_dir
from .trainer import Trainer, TrainingInputError

DEFAULT_PREFIX = "time traveller"  # d2l's, for a corpus that has no prompt of its own
# what a resumed run may change; everything else comes from its checkpoint, so that it resumes exactly
RESUME_OVERRIDES = ("epochs", "device", "kernels", "sample_every", "checkpoint_every", "prefix")


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

    def events(self, control: TrainControl | None = None) -> Iterator[ev.Event]:
        trainer = Trainer(self.config, self.corpus.text, self.corpus.info(), control=control,
                          resume=self.resume_state)
        return recorded_run(trainer, self.run, resumed=self.resume_state is not None)


def prepare_run(config: TrainConfig, resume: str | None = None, overrides: dict | None = None) -> PreparedRun:
    """The run ``config`` describes, or the one ``resume`` (a checkpoint or run folder) continues with
    ``overrides`` (the options the user gave; only ``RESUME_OVERRIDES`` apply). TrainingInputError,
    one line for the user, for anything that cannot run."""
    state = None
    if resume:
        try:
            checkpoint_path = resolve_checkpoint(resume)
            state = load_checkpoint(checkpoint_path)
        except CheckpointError as exc:
            raise TrainingInputError(str(exc)) from None
        config = TrainConfig.from_dict(state["config"])
        for key, value in (overrides or {}).items():
            if key in RESUME_OVERRIDES:
                setattr(config, key, value)
    corpus = load_corpus_for(config)
    problem = config.first_error()
    if problem:
        raise TrainingInputError(problem)
    if state is None:
        return PreparedRun(config, corpus, RunDir(config.run_dir or default_run_dir(config.model)))
    if state.get("source", {}).get("sha1") not in (None, corpus.info()["sha1"]):
        raise TrainingInputError("the corpus has changed since this checkpoint was written; "
                                 "resuming would not be exact")
    if state["epoch"] >= config.epochs:
        raise TrainingInputError(f"the checkpoint has already done {state['epoch']} epochs; pass --epochs N with N "
                                 f"above {state['epoch']} to train on")
    return PreparedRun(config, corpus, RunDir(checkpoint_path.parent), state)


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
