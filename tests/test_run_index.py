"""Runs are found from any folder (the per-user index), and `rnn-tui logs` follows one from a plain shell."""
import json
import os
import shlex
import subprocess

import pytest

from rnn_tui.engine import run_index
from rnn_tui.engine.launch import python_command, rnn_tui_command
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.watch import run_info
from helpers import LONGER, SMALL, detach, epochs_done, rnn_tui, wait_for


@pytest.fixture
def two_folders(tmp_path):
    """Where the user started a run, and where a later SSH login stands (its own runs root empty)."""
    started, elsewhere = tmp_path / "project", tmp_path / "home"
    started.mkdir()
    elsewhere.mkdir()
    return started, elsewhere


def test_a_run_started_in_one_folder_is_found_from_any_other(two_folders):
    started, elsewhere = two_folders
    launched = rnn_tui("train", *LONGER, "--epochs", "500", "--detach", cwd=started)
    assert launched.returncode == 0, launched.stderr
    run = next((started / "runs").iterdir())
    for line in launched.stdout.splitlines()[1:]:  # every path printed to paste is absolute
        assert str(run) in line and " runs/" not in line, launched.stdout
    wait_for(lambda: epochs_done(run) >= 1, what="an epoch")

    listed = rnn_tui("runs", "--json", cwd=elsewhere)  # nothing under ./runs here: the index finds it
    assert [json.loads(line)["path"] for line in listed.stdout.splitlines()] == [str(run)]
    paused = rnn_tui("control", run.name, "pause", cwd=elsewhere)  # by its name alone
    assert paused.returncode == 0, paused.stderr
    logs = rnn_tui("logs", cwd=elsewhere)  # no name: the newest live run
    assert logs.returncode == 0 and f"run folder: {run}" in logs.stdout, logs.stderr
    code = f"from rnn_tui.tui.cli import run_folder; print(run_folder(None)); print(run_folder({run.name!r}))"
    found = subprocess.run(python_command(code), cwd=elsewhere, capture_output=True, text=True)
    assert found.stdout.split() == [str(run), str(run)], found.stderr  # what attach opens
    assert rnn_tui("control", run.name, "stop", cwd=elsewhere).returncode == 0
    assert [json.loads(line)["status"] for line in rnn_tui("runs", "--json", cwd=elsewhere).stdout.splitlines()] \
        == ["stopped"]  # a finished run is still found


def test_the_index_drops_what_is_no_run_and_survives_damaged_entries(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create({"model": "scratch-rnn"})
    run_index.register(run.path)
    run_index.register(tmp_path / "deleted")  # a folder gone since
    damaged = run_index.index_dir() / "damaged.json"
    for text in ("{not json", '["a list"]', '{"path": 5}', '{"path": "relative/run"}', '{"path": "/x\\u0000y"}'):
        damaged.write_text(text)
        assert run_index.indexed_folders() == [run.path]
        assert not damaged.exists()  # a damaged entry is removed, not a reason to fail
    assert len(list(run_index.index_dir().glob("*.json"))) == 1
    assert run_index.resolve_run("r") == run.path  # by name: the index knows it
    assert run_index.resolve_run(str(run.path)) == run.path and run_index.resolve_run("nosuch") is None


def test_an_unwritable_index_costs_a_warning_not_the_run(tmp_path):
    state = tmp_path / "state-file"
    state.write_text("not a folder")
    result = rnn_tui("train", *SMALL, "--epochs", "1", "--run-dir", str(tmp_path / "run"),
                     env={**os.environ, "XDG_STATE_HOME": str(state)})
    assert result.returncode == 0, result.stderr
    assert "warning: cannot name this run in" in result.stderr and run_info(tmp_path / "run").outcome == "completed"


def test_logs_prints_a_runs_events_as_train_does_and_follows_it_to_its_end(tmp_path):
    run = tmp_path / "run"
    shown = rnn_tui("train", *SMALL, "--epochs", "3", "--run-dir", str(run))
    assert shown.returncode == 0, shown.stderr
    logs = rnn_tui("logs", str(run))
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout == shown.stdout  # the same lines the run's own terminal showed
    as_json = rnn_tui("logs", str(run), "--json")
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == \
        [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]

    live = tmp_path / "live"
    detach(live, *LONGER, "--epochs", "4")
    follower = subprocess.run(rnn_tui_command("logs", "-f", str(live)), capture_output=True, text=True, timeout=300)
    assert follower.returncode == 0, follower.stderr
    lines = follower.stdout.splitlines()
    assert "epoch 4/4" in follower.stdout and lines[-1].startswith(f"best: {live / 'best.pt'}")  # to its very end
    assert run_info(live).outcome == "completed"


def test_logs_of_a_run_that_is_gone_says_so_and_how_to_resume(tmp_path):
    run = RunDir(tmp_path / "run")
    run.create({"model": "scratch-rnn"})
    run.write_status({"pid": 2**22 + 7, "host": os.uname().nodename, "state": "training", "process_started": 1.0})
    result = rnn_tui("logs", "-f", str(run.path))
    assert result.returncode == 1
    assert f"resume with: rnn-tui train --resume {shlex.quote(str(run.path))}" in result.stderr
    missing = rnn_tui("logs", str(tmp_path / "nosuch"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
