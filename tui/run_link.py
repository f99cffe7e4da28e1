"""The dashboard's hold on a run: started detached, followed through its folder, steered over its socket.

A run the dashboard starts is the same ``rnn-tui train --detach`` a user could type: a process of
its own that outlives the dashboard and the terminal. The dashboard reads the run only through
its folder (engine/watch.py) and sends it the commands of engine/control.py over ``control.sock``,
so a dashboard that attaches later, or a second one, sees and steers it just the same.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from rnn_tui.engine.config import RESUME_OVERRIDES, TrainConfig
from rnn_tui.engine.control_socket import RunNotLive, send_command
from rnn_tui.engine.launch import DetachedRun, launch_training, rnn_tui_command


def start_run(config: TrainConfig, resume: str | None = None) -> DetachedRun:
    """Launch the run the form describes, or train ``resume`` on with the form's values of what a resumed
    run may change; LaunchError if it cannot start."""
    options = config.to_dict()
    if resume:
        options = {name: options[name] for name in RESUME_OVERRIDES}
    return launch_training({**options, "resume": resume}, config.model)


class RunLink:
    """One run folder the dashboard follows; ``process`` when this dashboard launched it."""

    def __init__(self, path: str | Path, process: subprocess.Popen | None = None):
        self.path = Path(path)
        self.process = process

    def send(self, command: str, **options) -> str | None:
        """Send a command; None when the run took it, else why not (one line)."""
        try:
            reply = send_command(self.path, command, timeout_s=2.0, **options)
        except RunNotLive:
            return "the run is no longer live"
        except OSError as exc:
            return f"cannot reach the run: {exc.strerror or exc}"
        return None if reply.get("ok") else reply.get("error", "refused")

    def reap(self) -> None:
        """Collect the exit status of a run this dashboard launched, so it leaves no zombie."""
        if self.process is not None:
            self.process.poll()


def stream_generation(run_path: str, prefix: str, temperature: float, length: int,
                      on_text: Callable[[str], None]) -> tuple[int, str]:
    """Run ``rnn-tui generate`` and hand its output over as it is produced."""
    command = rnn_tui_command("generate", run_path, "--prefix", prefix, "--temperature", str(temperature),
                              "--length", str(length))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               encoding="utf-8", bufsize=0)
    while True:
        piece = process.stdout.read(1)
        if not piece:
            break
        on_text(piece)
    return process.wait(), process.stderr.read().strip()
