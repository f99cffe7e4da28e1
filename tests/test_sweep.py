"""`rnn-tui sweep`: the space checked before any trial, trials as run folders, join, prune, a killed worker."""
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from helpers import rnn_tui, wait_for
from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.launch import SWEEP_TRIAL_ENV, rnn_tui_command
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.watch import process_alive
from rnn_tui.engine.sweep_space import Param, SpaceError, check_space, parse_param, space_from_toml

pytest.importorskip("optuna", reason="rnn-tui sweep runs on Optuna (pip install -e .)")

# tiny trials: a second or two of training each, most of a trial is its process starting
TINY = ["--corpus", "markov:length=3000", "--hidden", "8", "--batch-size", "2", "--num-steps", "5", "--epochs", "2",
        "--device", "cpu", "--sample-every", "0"]


def test_a_space_is_parsed_as_written_and_refused_in_one_line_where_it_cannot_run(tmp_path):
    assert parse_param("lr=loguniform:1e-4:1e-2") == Param("lr", "loguniform", 1e-4, 1e-2)
    assert parse_param("batch-size=intlog:8:256") == Param("batch_size", "intlog", 8.0, 256.0)
    assert parse_param("hidden=choice:256,512,256") == Param("hidden", "choice", choices=(256, 512))
    assert parse_param("model=choice:lstm,gru").choices == ("lstm", "gru")
    assert parse_param("dropout=uniform:0:0.5").spec == "dropout=uniform:0:0.5"
    refused = {"nosuch=uniform:0:1": "not an option a sweep can search", "lr": "write NAME=KIND:ARGS",
               "lr=normal:0:1": "not a distribution", "lr=uniform:1": "takes LOW:HIGH",
               "lr=uniform:0.1:0.01": "is empty", "lr=uniform:0.1:0.1": "is empty", "lr=loguniform:0:1": "LOW above 0",
               "hidden=uniform:8:64": "a whole number", "lr=int:1:5": "takes any number", "hidden=choice:": "at least one",
               "hidden=choice:8,x": "is not an integer", "lr=uniform:0:inf": "not a finite number",
               "model=uniform:0:1": "takes choice", "run_dir=choice:a,b": "not an option a sweep can search"}
    for text, message in refused.items():
        with pytest.raises(SpaceError, match=message):
            parse_param(text)
    base = TrainConfig(model="scratch-rnn")
    for text, message in {"dropout=uniform:0:0.5": "--dropout is for the concise models only",
                          "hidden=int:0:64": "--hidden must be a positive integer",
                          "model=choice:scratch-rnn,transformer": "--model must be one of"}.items():
        with pytest.raises(SpaceError, match=message):
            check_space([parse_param(text)], base)
    with pytest.raises(SpaceError, match="given twice"):
        check_space([parse_param("lr=uniform:0.1:1"), parse_param("lr=uniform:1:2")], base)
    check_space([parse_param("dropout=uniform:0:0.5")], TrainConfig(model="lstm"))  # a concise model takes it
    (tmp_path / "space.toml").write_text('[params]\nlr = "loguniform:1e-4:1e-2"\nhidden = {choice = [256, 512]}\n'
                                         'dropout = {uniform = [0, 0.5]}\n')
    assert [p.spec for p in space_from_toml(str(tmp_path / "space.toml"))] == [
        "lr=loguniform:0.0001:0.01", "hidden=choice:256,512", "dropout=uniform:0:0.5"]
    (tmp_path / "bad.toml").write_text("[params\n")
    with pytest.raises(SpaceError, match="not TOML"):
        space_from_toml(str(tmp_path / "bad.toml"))


def test_bad_sweep_input_is_one_line_and_exit_2_before_any_trial(tmp_path):
    env = {**os.environ, "RNN_TUI_RUNS": str(tmp_path / "runs")}
    cases = {("--param", "nosuch=uniform:0:1"): "not an option a sweep can search",
             ("--param", "lr=uniform:1"): "takes LOW:HIGH",
             ("--param", "lr=uniform:2:1"): "is empty",
             ("--param", "dropout=uniform:0:0.5", "--model", "scratch-rnn"): "for the concise models only",
             ("--param", "lr=uniform:0.5:1", "--prune", "sometimes"): "--prune sometimes",
             ("--param", "lr=uniform:0.5:1", "--corpus", "nosuch"): "unknown corpus",
             ("--param", "lr=uniform:0.5:1", "--storage", "postgresql://nobody@127.0.0.1:9/none"): "--storage",
             ("--param", "lr=uniform:0.5:1", "--storage", "nonsense://x"): "--storage",
             ("--param", "lr=uniform:0.5:1", "--join"): "--join",
             ("--space", str(tmp_path / "missing.toml")): "--space",
             ("--param", "lr=uniform:0.5:1", "--resume", str(tmp_path)): "--resume is not for a sweep",
             ("--param", "lr=uniform:0.5:1", "--run-dir", str(tmp_path / "r")): "--run-dir is not for a sweep",
             (): "training options are set when it starts"}
    for args, message in cases.items():
        result = rnn_tui("sweep", "s", *TINY, *args, env=env)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], (args, result.stderr)
        assert not (tmp_path / "runs" / "s").exists(), args  # nothing made, no trial started
    result = rnn_tui("sweep", "s", env=env)
    assert result.returncode == 2 and "give the parameters to search" in result.stderr
    result = rnn_tui("sweep", "no/slash", "--param", "lr=uniform:0.5:1", env=env)
    assert result.returncode == 2 and "sweep name" in result.stderr


@pytest.fixture(scope="module")
def joined_sweep(tmp_path_factory):
    """Six trials, two at a time, and a second process joining the sweep once its study is made."""
    folder = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "RNN_TUI_RUNS": str(folder / "runs"), "XDG_STATE_HOME": str(folder / "state")}
    command = rnn_tui_command("sweep", "lr-study", *TINY, "--param", "lr=loguniform:0.3:3",
                              "--param", "hidden=choice:8,12", "--trials", "6", "--jobs", "2", "--prune", "none")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for((folder / "runs" / "lr-study" / "study.journal").exists, 120, "the study to be made")
    joined = rnn_tui("sweep", "lr-study", "--join", env=env)
    out, err = first.communicate(timeout=300)
    return env, first.returncode, out, err, joined


def test_a_sweep_of_six_trials_two_at_a_time_and_a_second_process_joining_it_never_collide(joined_sweep):
    env, code, out, err, joined = joined_sweep
    assert code == 0 and joined.returncode == 0, (err, joined.stderr)
    report = json.loads(rnn_tui("sweep", "lr-study", "--show", "--json", env=env).stdout)
    numbers = [row["trial"] for row in report["trials"]]
    assert sorted(numbers) == list(range(len(numbers))) and len(numbers) >= 6  # one number each, none twice
    done = [row for row in report["trials"] if row["state"] == "complete"]
    assert len(done) == 6 and all(row["value"] > 0 for row in done)
    folders = {row["run_dir"] for row in report["trials"]}
    assert len(folders) == len(numbers) and all(RunDir(folder).read_status()["finished"] == "completed"
                                                for folder in folders)
    assert report["best"]["value"] == min(row["value"] for row in done)
    for row in done:  # each trial trained with the values Optuna chose, and its folder says so
        config = json.loads((RunDir(row["run_dir"]).path / "config.json").read_text())
        assert config["lr"] == row["params"]["lr"] and config["hidden"] == row["params"]["hidden"]
        assert config["epochs"] == 2
    listed = [json.loads(line) for line in rnn_tui("runs", "--json", env=env).stdout.splitlines()]
    assert sorted(run["path"] for run in listed) == sorted(folders)  # ordinary runs, the sweep's folder not one
    assert all(run["note"].startswith("sweep lr-study, trial ") for run in listed)
    shown = rnn_tui("sweep", "lr-study", "--show", env=env).stdout
    assert "6 of 6 trials done" in shown and "best: trial" in shown and "importance:" in shown
    assert "best: trial" in out and f"trial {numbers[0]}" in out + joined.stdout


def test_a_trial_the_pruner_stops_ends_pruned_in_its_folder_and_in_the_study(tmp_path):
    env = {**os.environ, "RNN_TUI_RUNS": str(tmp_path / "runs"), "XDG_STATE_HOME": str(tmp_path / "state")}
    result = rnn_tui("sweep", "p", *TINY, "--epochs", "4", "--param", "lr=uniform:0.5:1", "--trials", "2",
                     "--prune", "threshold:0.01", env=env)  # no loss is that low: every trial is pruned after epoch 1
    assert result.returncode == 0, result.stderr
    report = json.loads(rnn_tui("sweep", "p", "--show", "--json", env=env).stdout)
    assert [row["state"] for row in report["trials"]] == ["pruned", "pruned"]
    for row in report["trials"]:
        status = RunDir(row["run_dir"]).read_status()
        assert status["finished"] == "pruned" and status["epoch"] < 4
    listed = [json.loads(line) for line in rnn_tui("runs", "--json", env=env).stdout.splitlines()]
    assert [run["status"] for run in listed] == ["pruned", "pruned"]


def test_a_killed_workers_trial_is_failed_and_running_the_command_again_completes_the_count(tmp_path):
    env = {**os.environ, "RNN_TUI_RUNS": str(tmp_path / "runs"), "XDG_STATE_HOME": str(tmp_path / "state")}
    args = ["sweep", "k", *TINY, "--epochs", "1000", "--max-time-per-trial", "2",
            "--param", "lr=uniform:0.5:1", "--trials", "2", "--prune", "none"]
    worker = subprocess.Popen(rnn_tui_command(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    first_trial = RunDir(tmp_path / "runs" / "k" / "k-000")
    training = wait_for(lambda: (s := first_trial.read_status()) and s.get("state") == "training" and s, 120,
                        "the first trial to train")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # it ends with its worker (SIGTERM), checkpointed: first its process ends, then what it left is read
    wait_for(lambda: not process_alive(training), 60, f"the orphaned trial (pid {training['pid']}) to end")
    status, log = first_trial.read_status(), (first_trial.path / "train.log").read_text(errors="replace")
    assert status and status["state"] == "finished", f"its status: {status}; its train.log: {log[-2000:]}"
    assert status["finished"] == "interrupted", log[-2000:]
    again = rnn_tui("sweep", "k", env=env)  # the same sweep, from its study
    assert again.returncode == 0, again.stderr
    report = json.loads(rnn_tui("sweep", "k", "--show", "--json", env=env).stdout)
    states = {row["trial"]: row["state"] for row in report["trials"]}
    assert states[0] == "fail" and list(states.values()).count("complete") == 2


def test_a_trial_takes_a_repeated_signal_as_the_same_stop_where_a_users_run_ends_at_the_second(monkeypatch):
    """Linux signals an orphan each time it is handed to another thread of its dying parent: a trial
    (SWEEP_TRIAL_ENV in its environment) must outlive the repeats to stop checkpointed."""
    from rnn_tui.engine.control import TrainControl
    from rnn_tui.tui.cli.headless import _install_signal_handlers
    kept = {name: signal.getsignal(getattr(signal, name)) for name in ("SIGINT", "SIGTERM", "SIGHUP")}
    try:
        for trial, second_ends in ((True, False), (False, True)):
            if trial:
                monkeypatch.setenv(SWEEP_TRIAL_ENV, "1")
            else:
                monkeypatch.delenv(SWEEP_TRIAL_ENV, raising=False)
            control = TrainControl()
            _install_signal_handlers(control)
            os.kill(os.getpid(), signal.SIGTERM)  # its handler runs before the next line
            assert control.stop_reason == "SIGTERM"
            assert (signal.getsignal(signal.SIGTERM) == signal.SIG_DFL) == second_ends
    finally:
        for name, handler in kept.items():
            signal.signal(getattr(signal, name), handler)


def test_a_sweeps_trials_are_listed_and_found_by_name(tmp_path):
    """A folder marked as a sweep's stands for its trials in every listing; a trial is found by its name."""
    from rnn_tui.engine.run_index import known_run_folders
    root = tmp_path / "runs"
    (root / "s" / "s-000").mkdir(parents=True)
    (root / "s" / "sweep.json").write_text('{"name": "s", "storage": "journal"}\n')
    (root / "plain").mkdir()
    assert [p.name for p in known_run_folders(root)] == ["plain", "s-000"]


async def test_the_sweep_screen_shows_the_trials_and_charts_and_opens_a_trials_run(joined_sweep, monkeypatch):
    from textual.widgets import DataTable
    from helpers import screen_lines, wait_until
    from rnn_tui.tui.app import RnnTuiApp
    from rnn_tui.tui.runs_screen import RunsScreen
    from rnn_tui.tui.sweep_screen import SweepScreen
    env, code, _, err, _ = joined_sweep
    assert code == 0, err
    monkeypatch.setenv("RNN_TUI_RUNS", env["RNN_TUI_RUNS"])
    trials = len(list(Path(env["RNN_TUI_RUNS"], "lr-study").glob("lr-study-*")))
    app = RnnTuiApp(TrainConfig(corpus="markov", device="cpu"))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("f2")
        await wait_until(pilot, lambda: isinstance(app.screen, RunsScreen)
                         and app.screen.query_one(DataTable).row_count == trials)
        await pilot.press("w")
        await wait_until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.report is not None)
        screen = app.screen
        assert screen.query_one("#sweep-table", DataTable).row_count == trials
        text = "\n".join(screen_lines(app))
        assert "6 of 6 trials done" in text and "best so far" in text and "lr against the objective" in text
        await pilot.press("p")
        assert screen.param == "hidden"
        await pilot.press("enter")  # the first trial's run, in the dashboard
        await wait_until(pilot, lambda: not isinstance(app.screen, (SweepScreen, RunsScreen)) and app.state.run_dir)
        assert app.state.run_dir == screen.report["trials"][0]["run_dir"]


def test_a_sweep_on_a_database_url_goes_on_from_the_study_and_is_shown_from_it(tmp_path):
    env = {**os.environ, "RNN_TUI_RUNS": str(tmp_path / "runs"), "XDG_STATE_HOME": str(tmp_path / "state")}
    url = f"sqlite:///{tmp_path / 'study.db'}"  # an RDB URL as PostgreSQL's would be, with Optuna's heartbeat
    args = ["sweep", "db", *TINY, "--param", "lr=uniform:0.5:1", "--prune", "none", "--storage", url]
    first = rnn_tui(*args, "--trials", "1", env=env)
    more = rnn_tui(*args, "--trials", "2", env=env)  # the same sweep, asked for one trial more
    assert first.returncode == 0 and more.returncode == 0 and not first.stderr and not more.stderr, more.stderr
    report = json.loads(rnn_tui("sweep", "db", "--show", "--json", "--storage", url, env=env).stdout)
    assert [row["state"] for row in report["trials"]] == ["complete", "complete"] and report["target"] == 2
    unseen = rnn_tui("sweep", "db", "--show", env=env)
    assert unseen.returncode == 2 and "--storage URL" in unseen.stderr  # its study is in the database, not here
