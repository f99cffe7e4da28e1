"""``rnn-tui sweep``: a search over training options, on Optuna; every trial an ordinary run folder.

Optuna samples, prunes and records; rnn-tui runs trials (``sweep_worker.py``). A trial is
``rnn-tui train --json`` in a process of its own, in ``RUNS_ROOT/NAME/NAME-007``: listed by
``rnn-tui runs``, attachable, steerable. Its validation loss is reported to the trial each epoch; a
trial the pruner stops is told ``prune`` on its control socket and ends with the status ``pruned``.
Here: the plan a study holds, its storage, and the report ``--show`` and the sweep screen draw.

Storage: by default Optuna's journal file, ``RUNS_ROOT/NAME/study.journal``: an append-only log
under a file lock, which any number of processes on one box share without a database server (SQLite,
through Optuna's RDB storage, holds one lock on the whole file and fails writers that wait too long). ``--storage URL`` takes any Optuna
RDB URL (PostgreSQL, MySQL) so workers on several machines share one study, with Optuna's heartbeat
to fail the trials of a worker that died elsewhere. The space, the options and the trial count live
in the study itself, so ``--join`` on another box needs nothing but the URL.
"""
from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.runs import SWEEP_MARKER, folder_problem, runs_root
from rnn_tui.engine.sweep_space import Param, parse_param

JOURNAL_FILE = "study.journal"
PRUNERS = ("median", "hyperband", "none")  # and threshold:X, pruning a trial whose loss is above X nats
HEARTBEAT_S, GRACE_S = 30, 120  # RDB storage: a worker unheard for GRACE_S has its trial failed
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def load_optuna():
    """Optuna, imported when a sweep needs it (it takes a second), saying nothing rnn-tui does not."""
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
    optuna = load_optuna()
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
    optuna = load_optuna()
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
    optuna = load_optuna()
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
