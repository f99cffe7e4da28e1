"""``rnn-tui sweep``: a search over training options, on Optuna; every trial an ordinary run folder.

Optuna samples, prunes and records; this module runs trials. A trial is ``rnn-tui train --json`` in
a process of its own, in ``RUNS_ROOT/NAME/NAME-007``: listed by ``rnn-tui runs``, attachable,
steerable. Its validation loss is reported to the trial each epoch; a trial the pruner stops is told
``prune`` on its control socket and ends with the status ``pruned``.

Storage: by default Optuna's journal file, ``RUNS_ROOT/NAME/study.journal``: an append-only log
under a file lock, which any number of processes on one box share without a database server (SQLite
locks its whole file per write and refuses concurrent writers). ``--storage URL`` takes any Optuna
RDB URL (PostgreSQL, MySQL) so workers on several machines share one study, with Optuna's heartbeat
to fail the trials of a worker that died elsewhere. The space, the options and the trial count live
in the study itself, so ``--join`` on another box needs nothing but the URL.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import re
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from . import events as ev
from .control_socket import RunNotLive, send_command
from .errors import InputProblem
from .launch import option_arguments, rnn_tui_command
from .runs import SWEEP_MARKER, folder_problem, runs_root
from .sweep_space import Param, parse_param
from .watch import process_alive

JOURNAL_FILE = "study.journal"
PRUNERS = ("median", "hyperband", "none")  # and threshold:X, pruning a trial whose loss is above X nats
HEARTBEAT_S, GRACE_S = 30, 120  # RDB storage: a worker unheard for GRACE_S has its trial failed
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _optuna():
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # rnn-tui says what happens, once
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the heartbeat's
    # ask-and-tell with a heartbeat: SweepWorker._heartbeat beats for each trial as Study.optimize would
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


@dataclass
class SweepPlan:
    """What a sweep searches and how: written into its study, so every worker runs the same."""
    space: list[Param]
    options: dict               # the train options given, searched ones aside
    trials: int
    prune: str = "median"
    max_time_per_trial: float = 0.0

    def to_attrs(self) -> dict:
        return {"space": [p.spec for p in self.space], "options": self.options, "trials": self.trials,
                "prune": self.prune, "max_time_per_trial": self.max_time_per_trial}

    @classmethod
    def from_attrs(cls, attrs: dict) -> "SweepPlan":
        try:
            return cls([parse_param(spec) for spec in attrs["space"]], dict(attrs["options"]), int(attrs["trials"]),
                       str(attrs["prune"]), float(attrs["max_time_per_trial"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputProblem(f"this study was not made by rnn-tui sweep, or is damaged ({exc})") from None


def sweep_folder(name: str) -> Path:
    if not _NAME_RE.match(name):
        raise InputProblem(f"sweep name {name!r}: letters, digits, '.', '_' and '-' only, up to 64 characters")
    return runs_root() / name


def check_pruner(prune: str) -> None:
    kind, _, value = prune.partition(":")
    if kind == "threshold":
        try:
            if math.isfinite(float(value)):
                return
        except ValueError:
            pass
        raise InputProblem(f"--prune {prune}: threshold takes a loss in nats, e.g. threshold:2.5")
    if prune not in PRUNERS:
        raise InputProblem(f"--prune {prune}: use one of {', '.join(PRUNERS)} or threshold:X")


def _pruner(optuna, prune: str):
    kind, _, value = prune.partition(":")
    if kind == "threshold":
        return optuna.pruners.ThresholdPruner(upper=float(value))
    return {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
            "hyperband": optuna.pruners.HyperbandPruner, "none": optuna.pruners.NopPruner}[prune]()


def open_storage(url: str | None, folder: Path):
    """The study's storage: the journal file in ``folder``, or the RDB at ``url``; one line if unusable."""
    optuna = _optuna()
    storage = None
    if url is not None:
        try:
            storage = optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        except ImportError:
            raise InputProblem(f"--storage {url}: this database's driver is not installed (pip install "
                               f"psycopg2-binary for PostgreSQL, pymysql for MySQL)") from None
        except Exception as exc:  # sqlalchemy's many errors: a bad URL, a server that does not answer
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            raise InputProblem(f"--storage {url}: cannot be used ({reason})") from None
    try:  # the folder this box's trials go to, marked so that listings show its trials, not it
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / SWEEP_MARKER).write_text(json.dumps({"name": folder.name, "storage": "rdb" if url else "journal"})
                                           + "\n", encoding="utf-8")
        if storage is None:
            from optuna.storages.journal import JournalFileBackend
            storage = optuna.storages.JournalStorage(JournalFileBackend(str(folder / JOURNAL_FILE)))
    except OSError as exc:
        raise InputProblem(folder_problem(folder, exc)) from None
    return storage


def open_study(name: str, storage, plan: SweepPlan | None, join: bool):
    """The study NAME in ``storage`` and the plan it runs: made from ``plan`` if new, else the one it
    holds. With ``join`` it must exist; a plan that differs from an existing study's is refused."""
    optuna = _optuna()
    exists = name in {summary.study_name for summary in optuna.study.get_all_study_summaries(storage)}
    if join and not exists:
        raise InputProblem(f"--join: there is no sweep {name} in this storage to join")
    if not exists:
        if plan is None:
            raise InputProblem(f"no sweep {name} yet: give the parameters to search (--param or --space)")
        study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
        for key, value in plan.to_attrs().items():
            study.set_user_attr(key, value)
    else:
        study = optuna.load_study(study_name=name, storage=storage)
    held = SweepPlan.from_attrs(study.user_attrs)
    if plan is not None and exists and not join:
        if [p.spec for p in plan.space] != [p.spec for p in held.space] or plan.options != held.options:
            raise InputProblem(f"sweep {name} was started with other parameters or options "
                               f"({' '.join(p.spec for p in held.space)}): run it with those, or name a new sweep")
        if plan.trials != held.trials:  # more (or fewer) trials asked for: the count is the last one given
            study.set_user_attr("trials", plan.trials)
            held.trials = plan.trials
    study.pruner = _pruner(optuna, held.prune)
    return study, held


@dataclass
class TrialOutcome:
    """How one trial ended: Optuna's state, the objective, the run folder and the run's own status."""
    number: int
    params: dict
    state: str                  # complete | pruned | fail
    value: float | None         # best validation loss in nats (training loss without a validation split)
    run_dir: str
    status: str | None          # the run's Finished status, None if it never finished
    epochs: int = 0
    elapsed_s: float = 0.0
    reason: str = ""


def _prctl():
    try:
        return ctypes.CDLL(None).prctl  # Linux's: looked up here, not between fork and exec
    except (AttributeError, OSError):
        return None


_PRCTL = _prctl()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the trial's process, before it runs rnn-tui: end (SIGTERM, checkpointed) when its worker dies."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _worker_record() -> dict:
    me = psutil.Process()
    return {"host": socket.gethostname(), "pid": me.pid, "process_started": me.create_time()}


@dataclass
class SweepWorker:
    """Runs a study's trials, ``jobs`` at a time, each with its share of the CPU's threads."""
    name: str
    study: object
    storage: object
    plan: SweepPlan
    folder: Path
    jobs: int = 1
    on_start: Callable[[int, dict, str], None] = lambda number, params, run_dir: None
    on_outcome: Callable[[TrialOutcome], None] = lambda outcome: None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)

    def run(self) -> list[TrialOutcome]:
        """Trials until the study holds ``plan.trials`` complete or pruned ones (failed ones are run again)."""
        outcomes: list[TrialOutcome] = []
        threads = [threading.Thread(target=self._work, args=(outcomes,), daemon=True) for _ in range(self.jobs)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        except KeyboardInterrupt:  # the trials got the same SIGINT: they stop, checkpointed, and are failed
            self._stopping.set()
            for thread in threads:
                thread.join()
            raise
        return outcomes

    def _work(self, outcomes: list) -> None:
        while not self._stopping.is_set():
            trial = self._next_trial()
            if trial is None:
                return
            outcome = self._run_trial(trial)
            outcomes.append(outcome)
            self.on_outcome(outcome)

    def _next_trial(self):
        """A new trial of the study, or None when it has its count (a worker's trial failed is redone)."""
        optuna = _optuna()
        with self._lock:
            self._fail_abandoned()
            states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
                      optuna.trial.TrialState.RUNNING)
            if len(self.study.get_trials(deepcopy=False, states=states)) >= self.plan.trials:
                return None
            trial = self.study.ask()
            trial.set_user_attr("worker", _worker_record())
            return trial

    def _trial_id(self, number: int) -> int:
        study_id = self.storage.get_study_id_from_name(self.name)
        return self.storage.get_trial_id_from_study_id_trial_number(study_id, number)

    def _fail_abandoned(self) -> None:
        """Trials left running by a worker that died: on this box its process is gone; elsewhere (RDB
        storage) Optuna's heartbeat tells."""
        optuna = _optuna()
        if isinstance(self.storage, optuna.storages.RDBStorage):
            optuna.storages.fail_stale_trials(self.study)
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            if isinstance(worker, dict) and worker.get("host") == socket.gethostname() and not process_alive(worker):
                self.storage.set_trial_state_values(self._trial_id(trial.number), optuna.trial.TrialState.FAIL)

    def _run_trial(self, trial) -> TrialOutcome:
        """One trial from its folder to its state in the study."""
        optuna = _optuna()
        params = {param.name: param.suggest(trial) for param in self.plan.space}
        run_dir = self.folder / f"{self.name}-{trial.number:03d}"
        trial.set_user_attr("run_dir", str(run_dir))
        outcome = TrialOutcome(trial.number, params, "fail", None, str(run_dir), None)
        started = time.monotonic()
        try:
            _make_trial_folder(run_dir, self.name, trial.number, params)
        except OSError as exc:
            outcome.reason = folder_problem(run_dir, exc)
        else:
            self.on_start(trial.number, params, str(run_dir))
            self._train(trial, outcome)
        outcome.elapsed_s = time.monotonic() - started
        if outcome.status == "pruned":
            outcome.state = "pruned"
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif outcome.status in ENDS_WITH_A_VALUE and outcome.value is not None:
            outcome.state = "complete"
            self.study.tell(trial, outcome.value)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return outcome

    def _train(self, trial, outcome: TrialOutcome) -> None:
        """The trial's run, in a child process: each epoch's loss reported, pruned when Optuna says so."""
        run_dir = Path(outcome.run_dir)
        options = {**self.plan.options, **outcome.params}
        if self.plan.max_time_per_trial:
            options["max_time"] = self.plan.max_time_per_trial
        command = rnn_tui_command("train", "--json", *option_arguments(options), "--run-dir", str(run_dir))
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // self.jobs))}
        beating = self._heartbeat(trial.number)
        with open(run_dir / "train.log", "w", encoding="utf-8") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                       text=True, encoding="utf-8", errors="replace", preexec_fn=_die_with_parent)
            follower = _TrialFollower(trial, outcome)
            for line in process.stdout:
                try:
                    follower.take(ev.from_dict(json.loads(line)))
                except ValueError:
                    continue  # a line that is not an event
            code = process.wait()
        beating.set()
        if outcome.status is None:
            outcome.reason = _last_line(run_dir / "train.log") or f"its process exited with status {code}"

    def _heartbeat(self, number: int) -> threading.Event:
        """Tell an RDB storage this worker lives, every HEARTBEAT_S, until the returned event is set."""
        done = threading.Event()
        if not hasattr(self.storage, "record_heartbeat") or not self.storage.get_heartbeat_interval():
            return done
        trial_id = self._trial_id(number)

        def beat() -> None:
            while not done.is_set():
                self.storage.record_heartbeat(trial_id)
                done.wait(HEARTBEAT_S)
        threading.Thread(target=beat, daemon=True).start()
        return done


# a run that ended so has a best loss worth keeping: a diverged one's is from before it diverged
ENDS_WITH_A_VALUE = ("completed", "time-up", "early-stopped", "stopped", "diverged")


@dataclass
class _TrialFollower:
    """A trial's run seen through its events: the objective each epoch, the prune, the ending."""
    trial: object
    outcome: TrialOutcome
    has_val: bool = True
    pruning: bool = False

    def take(self, event: ev.Event) -> None:
        if isinstance(event, ev.Start):  # without a validation split the objective is the training loss
            self.has_val = (event.config.get("val_fraction") or 0) > 0
        elif isinstance(event, ev.Epoch):
            self.outcome.epochs = event.epoch
            loss = event.val_loss if self.has_val else event.train_loss
            if loss is None or not math.isfinite(loss):
                return
            self.outcome.value = loss if self.outcome.value is None else min(self.outcome.value, loss)
            self.trial.report(loss, event.epoch)
            if not self.pruning and self.trial.should_prune():
                self.pruning = True
                try:
                    send_command(self.outcome.run_dir, "prune")
                except (RunNotLive, OSError):
                    pass  # it ended on its own meanwhile
        elif isinstance(event, ev.Finished):
            self.outcome.status, self.outcome.reason = event.status, event.reason or ""
            if self.has_val and event.best_val_loss is not None:
                self.outcome.value = event.best_val_loss


def _make_trial_folder(run_dir: Path, sweep: str, number: int, params: dict) -> None:
    """The trial's run folder before its run starts, saying whose trial it is (note.txt shows in listings)."""
    run_dir.mkdir(parents=True, mode=0o700)
    described = ", ".join(f"{name}={_shown(value)}" for name, value in params.items())
    (run_dir / "note.txt").write_text(f"sweep {sweep}, trial {number}: {described}\n", encoding="utf-8")
    (run_dir / "trial.json").write_text(json.dumps({"sweep": sweep, "trial": number, "params": params}) + "\n",
                                        encoding="utf-8")


def _shown(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def read_sweep(folder: str | os.PathLike) -> dict:
    """``sweep_report`` of the sweep whose folder (on this box, with its journal) is ``folder``; ValueError,
    in words, when it is a database's (its URL is not kept) or cannot be read."""
    folder = Path(folder)
    if not (folder / JOURNAL_FILE).is_file():
        raise ValueError(f"sweep {folder.name} keeps its study in a database: "
                         f"rnn-tui sweep {folder.name} --show --storage URL shows it")
    try:
        study, _ = open_study(folder.name, open_storage(None, folder), None, join=True)
    except InputProblem as exc:
        raise ValueError(str(exc)) from None
    return sweep_report(study)


def sweep_report(study) -> dict:
    """The trials (number, state, parameters, best, epochs, time, folder), the best trial, and each
    parameter's importance (Optuna's default evaluator; empty until two trials have completed)."""
    optuna = _optuna()
    rows = []
    for trial in study.get_trials(deepcopy=False):
        run_dir = trial.user_attrs.get("run_dir")
        duration = (trial.datetime_complete - trial.datetime_start).total_seconds() \
            if trial.datetime_complete and trial.datetime_start else None
        rows.append({"trial": trial.number, "state": trial.state.name.lower(), "params": trial.params,
                     "value": trial.value, "epochs": max(trial.intermediate_values, default=None),
                     "time_s": duration, "run_dir": run_dir})
    complete = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    best = min(complete, key=lambda t: t.value) if complete else None
    importances: dict = {}
    if len(complete) >= 2:
        try:
            importances = dict(optuna.importance.get_param_importances(study))
        except (RuntimeError, ValueError, ZeroDivisionError):
            importances = {}  # every trial alike, or a single parameter value: nothing to weigh
    return {"name": study.study_name, "trials": rows, "target": study.user_attrs.get("trials"),
            "best": None if best is None else {"trial": best.number, "value": best.value, "params": best.params,
                                               "run_dir": best.user_attrs.get("run_dir")},
            "importances": importances}
