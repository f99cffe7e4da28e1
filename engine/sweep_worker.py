"""A sweep's worker: trials run as ``rnn-tui train --json`` children, ``jobs`` at a time.

Optuna asks and is told; this runs what it asks for. Each trial's process gets its share of the
cores (``OMP_NUM_THREADS``) and ends with its worker (Linux's parent-death signal: SIGTERM, so it
checkpoints). A trial left running by a worker that died is failed by the next worker that looks:
by its process on this box, by Optuna's heartbeat on an RDB storage elsewhere.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from rnn_tui.engine import events as ev
from rnn_tui.engine.control_socket import RunNotLive, send_command
from rnn_tui.engine.launch import SWEEP_TRIAL_ENV, option_arguments, rnn_tui_command
from rnn_tui.engine.runs import folder_problem
from rnn_tui.engine.sweep import HEARTBEAT_S, SweepPlan, load_optuna
from rnn_tui.engine.watch import process_alive


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
    """In the trial's process, before it runs rnn-tui: end (SIGTERM, checkpointed) when its worker dies.

    Linux sends the signal each time the trial is handed to another of the dying worker's threads,
    so a trial takes it more than once: SWEEP_TRIAL_ENV tells it a repeat is not a second request."""
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
        optuna = load_optuna()
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
        optuna = load_optuna()
        if isinstance(self.storage, optuna.storages.RDBStorage):
            optuna.storages.fail_stale_trials(self.study)
        for trial in self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            worker = trial.user_attrs.get("worker")
            if isinstance(worker, dict) and worker.get("host") == socket.gethostname() and not process_alive(worker):
                self.storage.set_trial_state_values(self._trial_id(trial.number), optuna.trial.TrialState.FAIL)

    def _run_trial(self, trial) -> TrialOutcome:
        """One trial from its folder to its state in the study."""
        optuna = load_optuna()
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
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // self.jobs)), SWEEP_TRIAL_ENV: "1"}
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
