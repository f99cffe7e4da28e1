"""Starting rnn-tui itself as a child process: a detached training run, generation, a benchmark's run.

``python -m`` and ``python -c`` both put the current folder first on ``sys.path``, where a folder
named ``rnn_tui`` (or any other) would shadow the installed package. The child drops that entry
before it imports anything of ours, so it runs the rnn-tui this interpreter has installed.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rnn_tui.engine.runs import RunDir, default_run_dir, folder_problem, run_folder_of

_INSTALLED_ONLY = "import sys; sys.path[:] = [p for p in sys.path if p]; "
# set in a sweep trial's environment: its worker's death may signal it more than once (engine/sweep_worker.py)
SWEEP_TRIAL_ENV = "RNN_TUI_SWEEP_TRIAL"


def python_command(code: str, *args: str) -> list[str]:
    """``python -c CODE ARGS…`` by this interpreter, the current folder off ``sys.path``."""
    return [sys.executable, "-c", _INSTALLED_ONLY + code, *args]


def rnn_tui_command(*args: str) -> list[str]:
    """The command line of ``rnn-tui ARGS…`` run by this interpreter."""
    return python_command("from rnn_tui.tui.cli import main; main()", *args)


def option_arguments(values: dict) -> list[str]:
    """``--name value`` for each option in ``values`` (None left out): how a child is told them."""
    arguments: list[str] = []
    for name, value in values.items():
        if value is not None:
            arguments += [f"--{name.replace('_', '-')}", str(value)]
    return arguments


class LaunchError(Exception):
    """A detached run did not start: one line for the user; ``input_error`` when the input was at fault."""

    def __init__(self, message: str, input_error: bool):
        super().__init__(message)
        self.input_error = input_error


@dataclass
class DetachedRun:
    """A training process in a session of its own, already past its checks and training."""
    path: Path
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid


class Readiness:
    """The detached child's word to its launcher through an inherited pipe: ``ok`` once it trains,
    else the one line that says why not. Said once; closing without a word means it crashed."""

    def __init__(self, fd: int | None):
        self.fd = fd

    def tell(self, text: str) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, text.encode("utf-8", "replace") + b"\n")
        except OSError:
            pass  # the launcher has gone: nobody to tell
        self.close()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def launch_detached(arguments: list[str], run_path: Path) -> DetachedRun:
    """Start ``rnn-tui train ARGUMENTS`` in a new session, so that no terminal's hang-up or closing
    dashboard reaches it, its stderr in the run folder's ``train.log``. Returns once the run has
    recorded its start (after the corpus and the options were checked), or raises LaunchError."""
    run = RunDir(run_path)
    root_made = not os.path.isdir(run.path.parent)  # the runs root, when this launch makes it: taken back too
    try:  # checked here, before a child is started for it
        made = run.make()
        run.log_path.touch()
    except OSError as exc:
        raise LaunchError(folder_problem(run.path, exc), input_error=True) from None
    read_fd, write_fd = os.pipe()
    try:
        with open(run.log_path, "ab") as log:
            process = subprocess.Popen(rnn_tui_command("train", *arguments, "--ready-fd", str(write_fd)),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                       pass_fds=(write_fd,), start_new_session=True)
    finally:
        os.close(write_fd)
    with os.fdopen(read_fd, "rb") as ready:
        answer = ready.read().decode("utf-8", "replace").strip()
    if answer == "ok":
        return DetachedRun(run.path, process)
    code = process.wait()
    if not answer:
        lines = run.log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        answer = f"the run ended before it started (status {code}): {lines[-1] if lines else 'no output'}"
    if made:  # nothing was trained: leave no empty folder behind
        run.log_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            run.path.rmdir()
            if root_made:
                run.path.parent.rmdir()
    raise LaunchError(answer, input_error=code == 2)


def launch_training(options: dict, model: str) -> DetachedRun:
    """Launch ``rnn-tui train`` with ``options`` (option name → value) detached, in the folder they
    name: the ``resume`` run's, the ``run_dir``, or a new one under the runs root."""
    resume = options.get("resume")
    if resume:
        if not Path(resume).exists():
            raise LaunchError(f"checkpoint not found: {resume}", input_error=True)
        run_path, options = run_folder_of(resume), {**options, "run_dir": None}
    else:
        run_path = RunDir(options.get("run_dir") or default_run_dir(model)).path
        options = {**options, "run_dir": str(run_path)}
    return launch_detached(option_arguments(options), run_path)
