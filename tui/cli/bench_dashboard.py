"""``rnn-tui bench --dashboard``: the dashboard's cost, measured the way a user meets it.

- Throughput: the same configuration trained headless (``rnn-tui train``), started from the real
  dashboard (``rnn-tui --start`` in a tmux terminal), and detached (``train --detach``) with a
  dashboard attached to it (``rnn-tui attach``), in rotating order, each run's epochs read from its
  run folder's ``metrics.jsonl``; per arm, the ratio of its median per-epoch tokens/s to headless's.
- Latency: while a dashboard run trains, a key is sent with ``tmux send-keys`` and the terminal is
  read with ``capture-pane`` until the screen shows the result (f1 opens the help, escape closes
  it). What is timed includes tmux's own path to the screen, as over SSH; the polling step
  (``POLL_S``) bounds the resolution.
"""
from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rnn_tui.engine.cpu import describe_cpu
from rnn_tui.engine.control_socket import RunNotLive, send_command
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.engine.phases import RunState
from rnn_tui.engine.watch import run_info

# key-to-screen: the resolution of the latency figures. Each poll runs `tmux capture-pane`, a process
# of its own; polling faster would take a core from the dashboard it is timing.
POLL_S = 0.01
RUN_POLL_S = 0.5     # waiting for a dashboard run's epochs: a tight loop here would steal the trainer's cores
HELP_MARKER = "rnn-tui keys"  # the help screen's title
READY_MARKER = "ctrl+r starts"  # the event log's first line
SESSION = f"rnn-tui-bench-{os.getpid()}"


class BenchError(RuntimeError):
    """The measurement could not be taken (no tmux, a run that never started)."""


def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def _screen() -> str:
    return _tmux("capture-pane", "-p", "-t", SESSION)


def _epoch_speeds(run_dir: Path) -> list[float]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line)["tokens_per_sec"] for line in path.read_text().splitlines() if line.strip()]


def _wait_for(condition, timeout_s: float, what: str, poll_s: float = POLL_S):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll_s)
    raise BenchError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _headless_run(args: list[str], run_dir: Path) -> list[float]:
    command = rnn_tui_command("train", *args, "--run-dir", str(run_dir))
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"headless run failed: {done.stderr.strip().splitlines()[-1:]}")
    return _epoch_speeds(run_dir)


def _start_dashboard(args: list[str], run_dir: Path, size: tuple[int, int], start: bool = True) -> None:
    command = shlex.join(rnn_tui_command(*args, "--run-dir", str(run_dir), *["--start"] * start))
    _tmux("kill-session", "-t", SESSION)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", str(size[0]), "-y", str(size[1]), command],
                   check=True)


def _run_ended(run_dir: Path) -> None:
    """Wait for a run's process to end (stopping it first if it still trains): the next run gets the cores."""
    with contextlib.suppress(RunNotLive, OSError):
        if run_info(run_dir).state == RunState.LIVE:
            send_command(run_dir, "stop")
    _wait_for(lambda: run_info(run_dir).state != RunState.LIVE, 120, "the run to end", poll_s=RUN_POLL_S)


def _watched_run(run_dir: Path, epochs: int, timeout_s: float) -> list[float]:
    try:
        _wait_for(lambda: len(_epoch_speeds(run_dir)) >= epochs, timeout_s, f"{epochs} epochs under a dashboard",
                  poll_s=RUN_POLL_S)
        return _epoch_speeds(run_dir)
    finally:
        _tmux("kill-session", "-t", SESSION)  # the run goes on (it would, in a real terminal too)...
        _run_ended(run_dir)                   # ...until its last epoch


def _dashboard_run(args: list[str], run_dir: Path, epochs: int, size: tuple[int, int], timeout_s: float) -> list[float]:
    _start_dashboard(args, run_dir, size)
    return _watched_run(run_dir, epochs, timeout_s)


def _attached_run(args: list[str], run_dir: Path, epochs: int, size: tuple[int, int], timeout_s: float) -> list[float]:
    started = subprocess.run(rnn_tui_command("train", *args, "--run-dir", str(run_dir), "--detach"),
                             capture_output=True, text=True, check=False)
    if started.returncode != 0:
        raise BenchError(f"detached run failed: {started.stderr.strip().splitlines()[-1:]}")
    _tmux("kill-session", "-t", SESSION)
    subprocess.run(["tmux", "new-session", "-d", "-s", SESSION, "-x", str(size[0]), "-y", str(size[1]),
                    shlex.join(rnn_tui_command("attach", str(run_dir)))], check=True)
    return _watched_run(run_dir, epochs, timeout_s)


def _key_latencies(args: list[str], run_dir: Path, presses: int, size: tuple[int, int],
                   training: bool) -> dict[str, list[float]]:
    """Seconds from send-keys to the screen showing the result, for f1 (open) and escape (close)."""
    _start_dashboard(args, run_dir, size, start=training)
    timings: dict[str, list[float]] = {"f1": [], "escape": []}
    try:
        if training:
            _wait_for(lambda: _epoch_speeds(run_dir) or "epoch 1/" in _screen(), 120, "training to be under way",
                      poll_s=RUN_POLL_S)
        else:
            _wait_for(lambda: READY_MARKER in _screen(), 60, "the dashboard to open", poll_s=RUN_POLL_S)
        for _ in range(presses):
            for key, shown in (("F1", True), ("Escape", False)):
                started = time.perf_counter()
                _tmux("send-keys", "-t", SESSION, key)
                _wait_for(lambda: (HELP_MARKER in _screen()) == shown, 10, f"the screen to answer {key}")
                timings[key.lower()].append(time.perf_counter() - started)
                time.sleep(0.05)
    finally:
        _tmux("kill-session", "-t", SESSION)
        if training:
            _run_ended(run_dir)
    return timings


def _summary_ms(seconds: list[float]) -> dict:
    return {"median": 1000 * statistics.median(seconds),
            "p90": 1000 * statistics.quantiles(seconds, n=10, method="inclusive")[-1],
            "max": 1000 * max(seconds), "presses": len(seconds)}


def measure_dashboard(repeats: int, epochs: int, presses: int, size: tuple[int, int] = (80, 24)) -> dict:
    if shutil.which("tmux") is None:
        raise BenchError("bench --dashboard needs tmux (it drives the real dashboard in a terminal)")
    def arguments(run_epochs: int) -> list[str]:
        return ["--corpus", "markov", "--epochs", str(run_epochs), "--sample-every", "0", "--device", "cpu"]

    args = arguments(epochs)
    arms = {"headless": lambda run_dir: _headless_run(args, run_dir),
            "dashboard": lambda run_dir: _dashboard_run(args, run_dir, epochs, size, 60 * epochs),
            "attached": lambda run_dir: _attached_run(args, run_dir, epochs, size, 60 * epochs)}
    speeds: dict[str, list[list[float]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory(prefix="rnn-tui-bench-") as tmp:
        work = Path(tmp)
        for r in range(repeats):
            # the order rotates so that no arm always goes first on a drifting machine; the first epoch
            # warms allocators up in every run and is left out of all
            names = list(arms)[r % len(arms):] + list(arms)[:r % len(arms)]
            for name in names:
                speeds[name].append(arms[name](work / f"{name}-{r}")[1:])
        latencies = {"idle": _key_latencies(arguments(1000), work / "idle", presses, size, training=False),
                     "training": _key_latencies(arguments(1000), work / "latency", presses, size, training=True)}
    result = {"configuration": " ".join(args), "terminal": f"{size[0]}x{size[1]} tmux", "repeats": repeats,
              "cpu": describe_cpu()}
    for name, runs in speeds.items():
        result[f"{name}_tokens_per_sec"] = statistics.median([v for run in runs for v in run])
        result[f"{name}_epochs"] = runs
    for name in ("dashboard", "attached"):
        ratios = [statistics.median(watched) / statistics.median(alone)
                  for alone, watched in zip(speeds["headless"], speeds[name])]
        result[f"{name}_pair_ratios"] = ratios
        result[f"{name}_over_headless"] = statistics.median(ratios)
    result["key_to_screen_ms"] = {when: {key: _summary_ms(values) for key, values in timings.items()}
                                  for when, timings in latencies.items()}
    result["poll_ms"] = POLL_S * 1000
    return result
