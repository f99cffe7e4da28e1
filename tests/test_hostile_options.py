"""Every option of `train` and `generate` with hostile values: one line and exit 2, or a clean run.

Never a traceback, never a hang (each case has a time limit). Cases run two at a time, each in a
process of its own forked from one that has imported rnn-tui (``helpers.run_cli``).
"""
import os
import subprocess

import click
import pytest

from helpers import run_cli, side_by_side
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.tui.cli import generate, train

HOSTILE = {int: ["0", "-1", "99999999999999999999", "1.5", "x", ""],
           float: ["nan", "inf", "-inf", "-1", "1e308", "x", ""],
           str: ["", "[/]", "-", "\x1b[2J", "a" * 5000]}
# a tiny run that ends in about a second whatever one option is set to (options given later win)
BASE = ["--corpus", "markov:length=3000", "--hidden", "8", "--batch-size", "2", "--num-steps", "5", "--epochs", "1",
        "--device", "cpu", "--sample-every", "0", "--max-time", "5", "--sample-length", "20"]
SKIP = {"help", "detach", "ready_fd", "json", "kernels"}  # flags, hidden plumbing, a choice click checks


def cases(command: click.Command) -> list[tuple[str, str]]:
    found = []
    for param in command.params:
        if not isinstance(param, click.Option) or param.name in SKIP or param.is_flag:
            continue
        if isinstance(param.type, click.Choice):
            found += [(param.opts[0], "not-a-choice")]
            continue
        kind = {click.INT: int, click.FLOAT: float}.get(param.type, str)
        found += [(param.opts[0], value) for value in HOSTILE[kind]]
    return found


def short(value: str) -> str:
    return repr(value) if len(value) <= 20 else f"{value[:10]!r}… ({len(value)} characters)"


def run_case(args: tuple[str, ...], cwd) -> subprocess.CompletedProcess | None:
    return run_cli(*args, cwd=cwd, timeout=120,
                   env={**os.environ, "RNN_TUI_RUNS": str(cwd / "runs"), "OMP_NUM_THREADS": "1"})


def mishandled(name: str, result: subprocess.CompletedProcess | None) -> str | None:
    """What is wrong with how a case ended, or None."""
    if result is None:
        return f"{name}: still running after 120 s"
    if "Traceback" in result.stderr:
        return f"{name}: a traceback\n{result.stderr[-1500:][:1500]}"
    if result.returncode == 2:
        lines = result.stderr.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("rnn-tui: error:"):
            return f"{name}: exit 2 but not one error line: {result.stderr[-1500:]}"
        return None
    # a clean run: it finished (1 only when it diverged), saying how it ended
    if result.returncode not in (0, 1) or not ("perplexity" in result.stdout or "diverged" in result.stderr):
        return f"{name}: exit {result.returncode}\n{result.stdout[-500:]}\n{result.stderr[-1500:]}"
    return None


def test_every_train_option_with_hostile_values(tmp_path):
    todo = [(f"{option} {short(value)}", ("train", *BASE, option, value)) for option, value in cases(train)]
    assert len(todo) > 150  # every option was walked
    results = side_by_side(*(lambda case=case: run_case(case[1], tmp_path) for case in todo))
    problems = [p for (name, _), result in zip(todo, results) if (p := mishandled(name, result))]
    assert not problems, "\n\n".join(problems)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    trained = subprocess.run(rnn_tui_command("train", *BASE, "--run-dir", str(folder / "run")), capture_output=True,
                             text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr
    return folder / "run"


def test_every_generate_option_with_hostile_values(tmp_path, checkpoint):
    todo = [(f"{option} {short(value)}", ("generate", str(checkpoint), "--length", "20", option, value))
            for option, value in cases(generate)]
    todo += [(f"CHECKPOINT {short(value)}", ("generate", value)) for value in HOSTILE[str]]
    results = side_by_side(*(lambda case=case: run_case(case[1], tmp_path) for case in todo))
    problems = [p for (name, _), result in zip(todo, results)
                if (p := None if result is not None and result.returncode == 0 and result.stdout  # it generated
                    else mishandled(name, result))]
    assert not problems, "\n\n".join(problems)
