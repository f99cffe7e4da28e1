"""Data parallelism under torchrun, on the CPU with gloo: N processes compute what one process does."""
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import torch

from rnn_tui.engine.checkpoint import load_checkpoint
from helpers import rnn_tui, wait_for

# two ranks on this machine's cores: each gets its share (torchrun's launch sets it, the test's own run too)
SCRATCH = ["--corpus", "markov:length=12000", "--model", "scratch-rnn", "--hidden", "32", "--batch-size", "8",
           "--num-steps", "10", "--sampler", "sequential", "--optimizer", "sgd", "--lr", "1", "--device", "cpu",
           "--sample-every", "0"]
LSTM = ["--corpus", "markov:length=12000", "--model", "lstm", "--hidden", "24", "--layers", "2", "--batch-size", "8",
        "--num-steps", "10", "--sampler", "random", "--optimizer", "adam", "--lr", "0.01", "--device", "cpu",
        "--sample-every", "0"]


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_curves(one: list[dict], many: list[dict]) -> None:
    assert [m["epoch"] for m in one] == [m["epoch"] for m in many]
    for a, b in zip(one, many):
        for key in ("train_loss", "val_perplexity", "grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-5), (key, a["epoch"])


def train(tmp_path, name, options, *extra, env=None):
    result = rnn_tui("train", *options, "--run-dir", str(tmp_path / name), *extra, env=env)
    assert result.returncode == 0, result.stderr
    return tmp_path / name


@pytest.mark.parametrize("options", [SCRATCH, LSTM], ids=["scratch-rnn-sgd-sequential", "lstm-adam-random"])
def test_two_processes_compute_what_one_does_and_the_checkpoint_resumes_in_one(tmp_path, options):
    one = train(tmp_path, "one", options, "--epochs", "3")
    two = train(tmp_path, "two", options, "--epochs", "2", "--nproc", "2")
    assert_same_curves(metrics(one)[:2], metrics(two))
    start = json.loads((two / "events.jsonl").read_text().splitlines()[0])
    assert (start["world_size"], start["backend"], start["config"]["nproc"]) == (2, "gloo", 2)
    state = load_checkpoint(two)
    assert not any(key.startswith(("module.", "model.")) for key in state["model_state"])  # the model, not DDP's
    resumed = rnn_tui("train", "--resume", str(two), "--epochs", "3", "--nproc", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_curves(metrics(one), metrics(two))


def test_sigterm_to_the_launcher_stops_every_rank_with_one_consistent_checkpoint(tmp_path):
    run = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-c", "from rnn_tui.tui.cli import main; main()", "train",
                                 *SCRATCH, "--epochs", "500", "--nproc", "2", "--run-dir", str(run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (run / "metrics.jsonl").exists() and len(metrics(run)) >= 2, 120, "two epochs")
        launcher.send_signal(signal.SIGTERM)
        code = launcher.wait(timeout=120)
    finally:
        launcher.kill()
    stderr = launcher.stderr.read()
    assert code == 128 + signal.SIGTERM, stderr
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    finished = events[-1]
    assert finished["event"] == "finished" and finished["status"] == "interrupted", events[-3:]
    state = load_checkpoint(run)
    assert state["epoch"] == finished["epoch"] == metrics(run)[-1]["epoch"]
    assert "Traceback" not in stderr, stderr[-4000:]  # the whole of it: which rank, and where


def test_a_rank_that_dies_stops_the_others_and_the_checkpoint_stays_intact(tmp_path):
    import psutil
    run = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-c", "from rnn_tui.tui.cli import main; main()", "train",
                                 *SCRATCH, "--epochs", "500", "--nproc", "2", "--run-dir", str(run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (run / "metrics.jsonl").exists() and len(metrics(run)) >= 2, 120, "two epochs")
        rank0 = json.loads((run / "status.json").read_text())["pid"]
        ranks = [p for p in psutil.Process(launcher.pid).children(recursive=True) if "train" in " ".join(p.cmdline())]
        other = next(p for p in ranks if p.pid != rank0)
        other.kill()
        code = launcher.wait(timeout=90)  # torchrun ends the survivors
    finally:
        launcher.kill()
    assert code != 0
    wait_for(lambda: not psutil.pid_exists(rank0) or psutil.Process(rank0).status() == psutil.STATUS_ZOMBIE, 30,
             "rank 0 to end")
    state = load_checkpoint(run)
    assert 1 <= state["epoch"] <= metrics(run)[-1]["epoch"]


def test_torchrun_itself_launches_it_as_the_readme_shows_and_a_budget_keeps_every_ranks_carried_state(tmp_path):
    # an epoch of a 512-unit LSTM over 400k tokens: far more than the second it is given, on any CPU
    options = [*SCRATCH, "--corpus", "markov:length=400000", "--model", "lstm", "--hidden", "512",
               "--batch-size", "32", "--num-steps", "64", "--epochs", "2", "--max-time", "1s"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "rnn_tui.tui.cli", "train", *options, "--json", "--run-dir", str(tmp_path / "run")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]  # rank 0 alone speaks
    assert [e["event"] for e in events].count("start") == 1 and events[-1]["status"] == "time-up"
    assert events[0]["world_size"] == 2 and json.loads((tmp_path / "run" / "config.json").read_text())["nproc"] == 2
    run = tmp_path / "run"
    state = load_checkpoint(run)
    underway = state["underway"]
    assert state["epoch"] == 0 and underway["batch"] >= 1
    for part in underway["state"]:  # (layers, streams, hidden): every stream's row, rank 1's as well as rank 0's
        assert part.shape[-2] == 32 and (part.abs().sum(dim=-1) > 0).all()
    resumed = rnn_tui("train", "--resume", str(run), "--nproc", "1", "--max-time", f"{math.ceil(state['elapsed_s']) + 1}s")
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(run)["underway"]["batch"] > underway["batch"]


# scratch-rnn and lstm are trained above: a scratch model with two state tensors, and a concise GRU
@pytest.mark.parametrize("model", ["scratch-lstm", "gru"])
def test_every_model_trains_under_ddp_as_in_one_process(tmp_path, model):
    options = [*SCRATCH, "--model", model, "--epochs", "1"]
    assert_same_curves(metrics(train(tmp_path, "one", options)), metrics(train(tmp_path, "two", options, "--nproc", "2")))


def test_a_detached_launch_returns_once_rank_0_trains_and_is_steered_like_any_run(tmp_path):
    from rnn_tui.engine.watch import run_info
    run = tmp_path / "run"
    started = rnn_tui("train", *SCRATCH, "--corpus", "markov:length=60000", "--epochs", "500", "--nproc", "2",
                      "--run-dir", str(run), "--detach")  # as the dashboard starts every run
    assert started.returncode == 0, started.stderr
    assert run_info(run).state == "live" and run_info(run).status["state"] != "starting"
    assert rnn_tui("control", str(run), "pause").returncode == 0
    assert rnn_tui("control", str(run), "stop").returncode == 0
    wait_for(lambda: run_info(run).state == "finished", 60, "the ranks to end")
    assert run_info(run).outcome == "stopped"


def test_a_batch_that_does_not_divide_among_the_processes_is_refused(tmp_path):
    result = rnn_tui("train", *SCRATCH, "--epochs", "1", "--nproc", "3", "--run-dir", str(tmp_path / "r"))
    assert result.returncode == 2 and "--nproc must divide --batch-size 8" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_nccl_on_two_gpus_computes_what_one_gpu_does(tmp_path):
    cuda = [o if o != "cpu" else "cuda" for o in SCRATCH]
    one = train(tmp_path, "one", cuda, "--epochs", "2")
    two = train(tmp_path, "two", cuda, "--epochs", "2", "--nproc", "2")
    assert_same_curves(metrics(one), metrics(two))
