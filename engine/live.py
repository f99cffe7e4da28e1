"""A run while its process lives: the folder's lock, ``status.json``, ``events.jsonl``, ``control.sock``.

Whatever trains (``rnn-tui train`` in the foreground or detached, a run the dashboard started)
trains inside a ``LiveRun``. The lock keeps a second run out of the folder; ``status.json`` says
which process trains (pid, host, the process's start time, so a recycled pid is not mistaken for
it), how far it got and its best validation perplexity (``rnn-tui runs`` needs nothing else); every event but progress is appended to ``events.jsonl``, progress only
replaces ``status.json``, so a long run's log grows with its epochs and no faster; ``control.sock``
takes commands from any client of the same user. engine/watch.py reads all of it back.
"""
from __future__ import annotations

import fcntl
import os
import socket
import sys
import time

import psutil

from rnn_tui.engine import events as ev
from rnn_tui.engine import run_index
from rnn_tui.engine.control import TrainControl
from rnn_tui.engine.control_socket import ControlServer
from rnn_tui.engine.phases import Outcome, Phase
from rnn_tui.engine.runs import RunDir, folder_problem
from rnn_tui.engine.summary import best_val, best_window_loss, min_finite, read_metrics
from rnn_tui.engine.trainer import TrainingInputError

STATUS_INTERVAL_S = 0.5  # progress replaces status.json at most this often


class LiveRun:
    def __init__(self, run: RunDir, control: TrainControl):
        self.run = run
        self.control = control
        self.status: dict = {}
        self.started = False  # a Start event was recorded: the folder holds a run
        self._lock_file = None
        self._server: ControlServer | None = None
        self._previous_status: dict | None = None
        self._made_folder = False
        self._status_written_at = 0.0
        self._write_failed = False

    def __enter__(self) -> "LiveRun":
        run = self.run
        try:
            self._made_folder = run.make()
            self._lock_file = open(run.lock_path, "a+")
        except OSError as exc:  # a file in the way, a read-only file system: the folder given is the problem
            raise TrainingInputError(folder_problem(run.path, exc)) from None
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            holder = (run.read_status() or {}).get("pid", "?")
            raise TrainingInputError(f"{run.path} is in use by a live run (pid {holder}): attach with "
                                     f"`rnn-tui attach {run.path}`, or pick another --run-dir") from None
        self._previous_status = run.read_status()
        for stale in [*run.path.glob(".checkpoint-*.tmp"), *run.path.glob(".status-*.tmp")]:
            stale.unlink(missing_ok=True)  # half-written by a process killed mid-write; the lock says none writes now
        self.status = {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time(),
                       "process_started": psutil.Process().create_time(), "state": Phase.STARTING,
                       "device": None, "batches_per_epoch": None,
                       "epoch": None, "epochs": None, "train_perplexity": None, "val_perplexity": None,
                       "tokens_per_sec": None, "best_val_perplexity": None, "best_val_epoch": None,
                       "best_val_loss_windows": None, "progress": None, "finished": None, "error": None}
        self._write_status()
        try:
            self._server = ControlServer(run.socket_path, self.control).start()
        except OSError as exc:  # a file system without sockets: the run trains, steered only from here
            print(f"warning: no control socket in {run.path} ({exc.strerror or exc}); "
                  f"this run cannot be steered from another terminal", file=sys.stderr)
        return self

    def record(self, event: ev.Event) -> None:
        """Keep ``event`` in the folder: appended to events.jsonl (progress: in status.json only)."""
        status = self.status
        match event:
            case ev.Progress():
                status["progress"] = {k: v for k, v in event.to_dict().items() if k != "event"}
                if time.monotonic() - self._status_written_at >= STATUS_INTERVAL_S:
                    self._write_status()
                return
            case ev.Start():
                self.started = True
                self._index(run_index.register)
                status.update(state=Phase.TRAINING, epoch=event.start_epoch, epochs=event.config.get("epochs"),
                              device=event.device, batches_per_epoch=event.batches_per_epoch)
                if event.start_epoch:  # resumed: the best so far is in the epochs it keeps
                    kept = read_metrics(self.run)[0]
                    best = best_val(kept)
                    status.update(best_val_perplexity=best and best["val_perplexity"],
                                  best_val_epoch=best and best["epoch"], best_val_loss_windows=best_window_loss(kept))
            case ev.Epoch():
                status.update(epoch=event.epoch, epochs=event.epochs, train_perplexity=event.train_perplexity,
                              val_perplexity=event.val_perplexity, tokens_per_sec=event.tokens_per_sec, progress=None)
                best = best_val([{"epoch": status["best_val_epoch"], "val_perplexity": status["best_val_perplexity"]},
                                 {"epoch": event.epoch, "val_perplexity": event.val_perplexity}])
                if best:
                    status.update(best_val_perplexity=best["val_perplexity"], best_val_epoch=best["epoch"])
                status["best_val_loss_windows"] = min_finite(status["best_val_loss_windows"], event.val_loss_windows)
            case ev.Paused() | ev.Resumed():
                status["state"] = Phase.PAUSED if isinstance(event, ev.Paused) else Phase.TRAINING
            case ev.Finished():
                status.update(state=Phase.FINISHED, finished=event.status, epoch=event.epoch)
            case ev.Error():
                status.update(state=Phase.FINISHED, finished=Outcome.ERROR, error=event.message)
        self._guarded(self.run.append_event, event.to_dict())
        self._write_status()

    def __exit__(self, exc_type, exc, _tb) -> None:
        try:
            if self._server is not None:
                self._server.close()
            if not self.started:
                self._forget()  # nothing trained: the folder is left as it was found
            elif self.status["state"] != Phase.FINISHED and exc is not None:
                message = str(exc).splitlines()[0] if str(exc) else ""
                self.record(ev.Error(message=f"{exc_type.__name__}: {message}"[:500],
                                     kind="input" if isinstance(exc, TrainingInputError) else "error"))
        finally:
            self._lock_file.close()  # releases the lock

    def _forget(self) -> None:
        run = self.run
        if self._previous_status is not None:
            self._guarded(run.write_status, self._previous_status)
        else:
            run.status_path.unlink(missing_ok=True)
        if self._made_folder:
            run.lock_path.unlink(missing_ok=True)
            try:
                run.path.rmdir()
            except OSError:
                pass  # something else is in it (a detached run's train.log): its launcher tidies up

    def _index(self, change) -> None:
        """Name this run in the per-user index of runs: attach, logs and runs find it from any folder."""
        try:
            change(self.run.path)
        except OSError as exc:
            print(f"warning: cannot name this run in {run_index.index_dir()} ({exc.strerror or exc}); "
                  f"`rnn-tui attach` finds it by its folder only: {self.run.path}", file=sys.stderr)

    def _write_status(self) -> None:
        self.status["updated_at"] = time.time()
        self._status_written_at = time.monotonic()
        self._guarded(self.run.write_status, self.status)

    def _guarded(self, write, *args) -> None:
        """A failed write (disk full) is reported once; the run trains on, its checkpoints guarded apart."""
        try:
            write(*args)
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                print(f"warning: cannot write to {self.run.path} ({exc.strerror or exc}); "
                      f"training goes on, watchers may fall behind", file=sys.stderr)
