"""The training run as a child process: the same ``rnn-tui train --json`` a script would use.

A child process keeps the GIL and any crash away from the dashboard, lets the dashboard start
without importing torch, and means a run in the dashboard is recorded, checkpointed and
interruptible exactly like a headless one. Commands go to its stdin in the protocol of
``engine/control.py``; its events come back as JSON lines, read here into the event dataclasses.
"""
from __future__ import annotations

import json
import subprocess
from collections import deque
from collections.abc import Callable, Iterator

from ..engine import events as ev
from ..engine.config import TrainConfig
from ..engine.control import command_line
from ..engine.launch import rnn_tui_command


def train_arguments(config: TrainConfig, resume: str | None = None) -> list[str]:
    args: list[str] = []
    for name, value in config.to_dict().items():
        if value is None or name == "resume":
            continue
        args += [f"--{name.replace('_', '-')}", str(value)]
    if resume:
        args += ["--resume", resume]
    return args


class TrainingProcess:
    def __init__(self, config: TrainConfig, resume: str | None = None):
        command = rnn_tui_command("train", "--json", "--control-stdin", *train_arguments(config, resume))
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
        self._stderr: deque[str] = deque(maxlen=20)

    @property
    def pid(self) -> int:
        return self.process.pid

    def events(self) -> Iterator[ev.Event]:
        """The run's events until the process closes its stdout (call from a worker thread)."""
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                yield ev.from_dict(json.loads(line))
            except ValueError:  # not an event (JSONDecodeError is one): kept with stderr's tail
                self._stderr.append(line)

    def wait(self) -> tuple[int, str]:
        self._stderr.extend(self.process.stderr.read().splitlines())
        return self.process.wait(), "\n".join(self._stderr)

    def send(self, command: str, **options) -> None:
        line = command_line(command, **options)
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass  # the process already ended; its exit is reported separately

    def running(self) -> bool:
        return self.process.poll() is None


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
