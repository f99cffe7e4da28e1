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

from rnn_tui.corpora import CorpusError, LoadedCorpus, load_corpus, load_file_corpus
from rnn_tui.engine import events as ev
from rnn_tui.engine.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from rnn_tui.engine.config import RESUME_OVERRIDES, TrainConfig
from rnn_tui.engine.control import TrainControl
from rnn_tui.engine.distributed import World
from rnn_tui.engine.phases import Outcome, RunState
from rnn_tui.engine.runs import RunDir, default_run_dir, folder_problem
from rnn_tui.engine.schedule import format_duration
from rnn_tui.engine.watch import run_info
from rnn_tui.engine.trainer import Trainer, TrainingInputError

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
    if config.prefix is None:
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
        return RunRecorder(trainer, self.run, resumed=self.resume_state is not None).events()


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
        if taken and run_info(run.path).state == RunState.LIVE:
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


def recorded_run(trainer: Trainer, run: RunDir, resumed: bool = False) -> Iterator[ev.Event]:
    """The trainer's events, each kept in ``run`` as it goes by (see RunRecorder)."""
    return RunRecorder(trainer, run, resumed).events()


class RunRecorder:
    """Keeps a run's events in its folder: one method per event kind it records.

    A write that fails (a full disk, a folder gone) is told once as an event and training goes on;
    an epoch of which nothing could be written stops the run. Checkpoints are written from the
    trainer's snapshot only, so a run cut anywhere resumes exactly.
    """

    def __init__(self, trainer: Trainer, run: RunDir, resumed: bool = False):
        self.trainer, self.run, self.resumed = trainer, run, resumed
        self.started = False
        self.saved_at: tuple[int, int] | None = None  # the position (_position) of the checkpoint last written
        self.failing: set[str] = set()  # the files whose last write failed: each is told once, until it works again
        self.pending: list[ev.Event] = []  # what the writes have to tell (failures, checkpoints), in order

    def events(self) -> Iterator[ev.Event]:
        record = {ev.Start: self.on_start, ev.Epoch: self.on_epoch, ev.Sample: self.on_sample,
                  ev.Finished: self.on_finished}
        try:
            for event in self.trainer.run():
                if not isinstance(event, ev.Progress):
                    self.remake_folder()
                yield from record.get(type(event), self.passed_on)(event)
                if self.trainer.control.take_save_request():
                    self.checkpoint(force=True)
                    yield from self.told()
        except BaseException:
            # Out of memory, a bug, Ctrl-C twice: keep the last completed epoch before giving up.
            if self.run.path.exists():
                self.checkpoint()
            raise

    def on_start(self, event: ev.Start) -> Iterator[ev.Event]:
        """The folder made and config.json written; a resumed run's records cut back to where it resumes."""
        self.started = True
        event.run_dir = str(self.run.path)
        if self.resumed:
            self.run.truncate_metrics(event.start_epoch)
            self.saved_at = _position(self.trainer.checkpoint_state())
            _forget_best_after(self.run, event.start_epoch)
        try:
            self.run.make()
        except OSError as exc:  # nothing has trained yet: the folder given is the problem
            raise TrainingInputError(folder_problem(self.run.path, exc)) from None
        self.write(lambda: self.run.create(self.trainer.config.to_dict()), "config.json")
        yield from self.told()
        yield event

    def on_epoch(self, event: ev.Epoch) -> Iterator[ev.Event]:
        """Its metrics line, best.pt at a new best, and a checkpoint when one is due."""
        record = {k: v for k, v in event.to_dict().items() if k not in ("event", "memory")}
        wrote = self.write(lambda: self.run.append_metrics(record), "metrics.jsonl")
        yield from self.told()
        yield event
        if event.best_epoch == event.epoch:  # the snapshot of this epoch is the best so far
            wrote = self.save(self.trainer.checkpoint_state(), self.run.best_path) or wrote
        # an epoch --max-time cut is kept at once: the closing samples come before the end's checkpoint
        if event.epoch % self.trainer.config.checkpoint_every == 0 or event.batch != event.batches:
            wrote = self.checkpoint() or wrote
        yield from self.told()
        if not wrote:  # a whole epoch and not a byte kept: training on would be for nothing
            self.trainer.control.request_stop(Outcome.UNWRITABLE)

    def on_sample(self, event: ev.Sample) -> Iterator[ev.Event]:
        """A sample goes to samples.txt, on demand too (ctrl+g, rnn-tui control sample)."""
        note = f"on demand (t={event.temperature:g})" if event.on_demand else ""
        self.write(lambda: self.run.append_sample(event.epoch, event.text, note), "samples.txt")
        yield from self.told()
        yield event

    def on_finished(self, event: ev.Finished) -> Iterator[ev.Event]:
        """The closing samples and the last checkpoint, then the end, which names what was kept."""
        for sample in event.samples:
            self.write(lambda: self.run.append_sample(event.epoch, sample["text"], "final"), "samples.txt")
        self.checkpoint()
        yield from self.told()
        event.run_dir = str(self.run.path)
        event.checkpoint = str(self.run.checkpoint_path) if self.run.checkpoint_path.exists() else None
        event.best_checkpoint = str(self.run.best_path) if self.run.best_path.exists() else None
        if self.trainer.control.stop_reason == Outcome.UNWRITABLE:
            event.status, event.reason = Outcome.UNWRITABLE, f"nothing could be written to {self.run.path} for a whole epoch"
        yield event

    def passed_on(self, event: ev.Event) -> Iterator[ev.Event]:
        yield from self.told()
        yield event

    def told(self) -> Iterator[ev.Event]:
        """What the writes since the last call have to tell."""
        pending, self.pending = self.pending, []
        yield from pending

    def write(self, write, name: str) -> bool:
        """One write of the run folder; False (told once) when it fails."""
        try:
            write()
        except (OSError, RuntimeError) as exc:  # torch.save says RuntimeError when the disk fills mid-write
            if name not in self.failing:
                self.failing.add(name)
                self.pending.append(ev.WriteFailed(path=str(self.run.path / name), error=_reason(exc)))
            return False
        self.failing.discard(name)
        return True

    def save(self, state: dict, path) -> bool:
        try:
            save_checkpoint(state, path)
        except (OSError, RuntimeError) as exc:
            # Reported, not fatal: the previous checkpoint is intact and training goes on.
            self.pending.append(ev.Checkpoint(epoch=state["epoch"], path=str(path), ok=False, error=_reason(exc)))
            return False
        return True

    def checkpoint(self, force: bool = False) -> bool:
        """The trainer's snapshot to checkpoint.pt, unless it is already there; True when written."""
        state = self.trainer.checkpoint_state()
        if state is None or (_position(state) == self.saved_at and not force):
            return False
        if not self.save(state, self.run.checkpoint_path):
            return False
        self.saved_at = _position(state)
        self.pending.append(ev.Checkpoint(epoch=state["epoch"], path=str(self.run.checkpoint_path),
                                          batch=self.saved_at[1]))
        return True

    def remake_folder(self) -> None:
        """A run folder deleted while the run trains is made again: what comes next is kept."""
        if self.run.path.is_dir() or not self.started:
            return
        try:
            self.run.create(self.trainer.config.to_dict())
        except OSError:
            return  # the write that follows fails, and says why
        self.pending.append(ev.WriteFailed(
            path=str(self.run.path), error="the folder was deleted while the run trained: made again; "
                                           "its files until then and its control socket are gone"))


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
