"""Runs that outlive the terminal: detached runs, their folder, the control socket, gone runs, resuming."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from rnn_tui.engine import events as ev
from rnn_tui.engine.control import TrainControl
from rnn_tui.engine.control_socket import MAX_CLIENTS, ControlServer, send_command
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.engine.live import LiveRun
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.summary import best_val, read_metrics
from rnn_tui.engine.watch import RunWatch, latest_live_run, run_info
from helpers import LONGER, SMALL, detach, epochs_done, rnn_tui, wait_for

def events_of(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["train_loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_a_detached_run_returns_at_once_trains_to_the_end_and_equals_a_foreground_one(tmp_path):
    result = detach(tmp_path / "detached", *SMALL, "--epochs", "3")
    assert "rnn-tui attach" in result.stdout and str(tmp_path / "detached") in result.stdout
    info = wait_for(lambda: (i := run_info(tmp_path / "detached")).state == "finished" and i, what="the end")
    assert info.outcome == "completed" and info.status["epoch"] == 3
    assert stat.S_IMODE((tmp_path / "detached").stat().st_mode) == 0o700
    kinds = [e["event"] for e in events_of(tmp_path / "detached")]
    assert kinds[0] == "start" and kinds[-1] == "finished" and "progress" not in kinds
    assert kinds.count("epoch") == 3 and kinds.count("checkpoint") == 3
    foreground = rnn_tui("train", *SMALL, "--epochs", "3", "--run-dir", str(tmp_path / "foreground"))
    assert foreground.returncode == 0, foreground.stderr
    assert losses(tmp_path / "detached") == losses(tmp_path / "foreground")  # same seed, same CPU: same run
    assert run_info(tmp_path / "foreground").outcome == "completed"  # a foreground run keeps the same files


@pytest.mark.parametrize("args,message", [
    (["--corpus", "nosuch"], "unknown corpus"),
    (["--resume", "/no/such/run"], "checkpoint not found"),
    (["--hidden", "0"], "hidden"),
])
def test_a_detached_run_that_cannot_start_is_one_line_exit_2_and_leaves_no_folder(tmp_path, args, message):
    result = rnn_tui("train", "--epochs", "1", *args, "--run-dir", str(tmp_path / "r"), "--detach")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "r").exists()


def test_control_acts_on_a_live_run_and_every_act_is_in_its_events(tmp_path):
    run = tmp_path / "run"
    detach(run, *LONGER, "--epochs", "500")
    wait_for(lambda: epochs_done(run) >= 1, what="an epoch")
    assert latest_live_run(tmp_path).path == run
    # a second run never writes into a live run's folder
    second = rnn_tui("train", *SMALL, "--epochs", "1", "--run-dir", str(run))
    assert second.returncode == 2 and "in use by a live run" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert wait_for(lambda: (run_info(run).status.get("progress") or {}).get("batch"), what="progress in status.json")

    paused = rnn_tui("control", str(run), "pause")
    assert paused.returncode == 0 and paused.stdout.startswith("paused"), paused.stderr
    sample = rnn_tui("control", str(run), "sample", "--prefix", "ab", "--length", "12", "--temperature", "0")
    assert sample.returncode == 0 and sample.stdout.strip().startswith("ab") and len(sample.stdout.strip()) == 14
    assert f", on demand (t=0)\n{sample.stdout.strip()}\n" in (run / "samples.txt").read_text()  # kept with the rest
    assert rnn_tui("control", str(run), "resume").stdout.startswith("training")
    saved = rnn_tui("control", str(run), "save")
    assert saved.returncode == 0 and "checkpoint of epoch" in saved.stdout
    misused = rnn_tui("control", str(run), "pause", "--prefix", "x")
    assert misused.returncode == 2 and "goes with sample only" in misused.stderr
    stopped = rnn_tui("control", str(run), "stop")
    assert stopped.returncode == 0 and stopped.stdout.startswith("stopped after epoch"), stopped.stderr

    kinds = [(e["event"], e.get("on_demand"), e.get("status")) for e in events_of(run)]
    for expected in [("paused", None, None), ("sample", True, None), ("resumed", None, None),
                     ("finished", None, "stopped")]:
        assert expected in kinds
    assert kinds[-1] == ("finished", None, "stopped")
    assert run_info(run).state == "finished" and not (run / "control.sock").exists()
    after = rnn_tui("control", str(run), "pause")
    assert after.returncode == 2 and "not a live run" in after.stderr and len(after.stderr.splitlines()) == 1


def test_a_killed_run_is_gone_keeps_its_checkpoint_and_resumes_listening_again(tmp_path):
    run = tmp_path / "run"
    detach(run, *SMALL, "--epochs", "500")
    wait_for(lambda: epochs_done(run) >= 2, what="two epochs")
    info = run_info(run)
    os.kill(info.pid, signal.SIGKILL)
    wait_for(lambda: run_info(run).state == "gone", what="the run to be gone")
    assert (run / "control.sock").exists()  # stale: left by the killed process
    checkpoints = [e["epoch"] for e in events_of(run) if e["event"] == "checkpoint" and e["ok"]]
    assert checkpoints and checkpoints[-1] >= 1  # the epoch just done may not have been saved yet
    refused = rnn_tui("control", str(run), "pause")
    assert refused.returncode == 2 and "not a live run" in refused.stderr
    (run / ".checkpoint-abc123.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves it

    resumed = rnn_tui("train", "--resume", str(run), "--epochs", "500", "--detach")
    assert resumed.returncode == 0, resumed.stderr
    assert not list(run.glob(".checkpoint-*.tmp"))  # the next run of the folder clears it
    assert rnn_tui("control", str(run), "pause").returncode == 0  # the stale socket did not stop it listening
    assert rnn_tui("control", str(run), "stop").returncode == 0
    starts = [e for e in events_of(run) if e["event"] == "start"]
    assert [s["start_epoch"] for s in starts] == [0, checkpoints[-1]]
    status = run_info(run).status
    assert status["finished"] == "stopped"
    best = best_val(read_metrics(RunDir(run))[0])  # over the kept epochs and the new ones
    assert (status["best_val_perplexity"], status["best_val_epoch"]) == (best["val_perplexity"], best["epoch"])


def test_hostile_clients_do_not_disturb_training(tmp_path):
    quiet = tmp_path / "quiet"
    assert rnn_tui("train", *LONGER, "--epochs", "10", "--run-dir", str(quiet)).returncode == 0
    run = tmp_path / "run"
    answers: dict[str, object] = {}

    def attack():
        sock_path = run / "control.sock"
        wait_for(sock_path.exists, what="the control socket")

        def exchange(payload: bytes) -> dict:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(sock_path))
                try:
                    client.sendall(payload)
                except BrokenPipeError:  # the run hung up on an oversized line, after saying why
                    pass
                return json.loads(client.makefile().readline())
        answers["garbage"] = exchange(b"\x00\xff{{{not json\n")
        answers["code"] = exchange(b'{"command": "__import__(\'os\').system(\'touch pwned\')"}\n')
        answers["huge"] = exchange(b"x" * 10_000_000)
        time.sleep(0.3)  # the run has seen those three hang up: the crowd alone counts against its limit
        crowd = []
        for _ in range(100):
            client = socket.socket(socket.AF_UNIX)
            client.connect(str(sock_path))
            crowd.append(client)
        time.sleep(0.5)  # the run has answered every one of them by now
        refused = 0
        for client in crowd:
            try:
                refused += b"refused" in client.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass  # taken in: nothing to read
        answers["refused"] = refused
        for client in crowd:
            client.close()
        answers["after"] = send_command(run, "save")
        wait_for(lambda: epochs_done(run) >= 2, what="two epochs of the attacked run")
        send_command(run, "stop")  # what it trained through the attack is what is compared

    attacker = threading.Thread(target=attack)
    process = subprocess.Popen(rnn_tui_command("train", *LONGER, "--epochs", "10", "--run-dir", str(run)),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    attacker.start()
    attacker.join(timeout=120)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert answers["garbage"]["ok"] is False and "not JSON" in answers["garbage"]["error"]
    assert answers["code"]["ok"] is False and "unknown command" in answers["code"]["error"]
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()
    assert answers["huge"]["ok"] is False and "line too long" in answers["huge"]["error"]
    assert answers["refused"] == 100 - MAX_CLIENTS
    assert answers["after"]["ok"] is True  # the crowd gone, a real client is served
    assert len(losses(run)) >= 2 and losses(run) == losses(quiet)[:len(losses(run))]  # minibatch for minibatch


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED") or os.getuid() != 0,
                    reason="dropping to another uid needs root and SO_PEERCRED (Linux)")
def test_a_client_of_another_user_is_refused_even_through_an_opened_socket():
    folder = Path(tempfile.mkdtemp(prefix="rnn-tui-peer-", dir="/tmp"))  # pytest's tmp_path is root's only
    control = TrainControl()
    server = ControlServer(folder / "control.sock", control).start()
    try:
        assert stat.S_IMODE((folder / "control.sock").stat().st_mode) == 0o600
        os.chmod(folder, 0o755)
        os.chmod(folder / "control.sock", 0o666)  # opened up on purpose: the peer check must still refuse
        reader, writer = os.pipe()
        if os.fork() == 0:  # the child becomes nobody, then knocks
            try:
                os.setgid(65534)
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX) as client:
                    client.connect(str(folder / "control.sock"))
                    client.sendall(b'{"command": "pause"}\n')
                    os.write(writer, client.recv(4096))
            except OSError as exc:
                os.write(writer, json.dumps({"error": f"the client failed: {exc}"}).encode())
            finally:
                os._exit(0)
        os.close(writer)
        with os.fdopen(reader, "rb") as answer:
            reply = json.loads(answer.read() or b"{}")
        assert "another user" in reply.get("error", ""), reply
        assert not control.paused
        assert send_command(folder, "pause")["ok"] and control.paused  # its owner is served
    finally:
        server.close()
        shutil.rmtree(folder)


def test_progress_only_replaces_the_status_a_few_times_a_second(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run")
    writes = []
    original = RunDir.write_status
    monkeypatch.setattr(RunDir, "write_status", lambda self, status: writes.append(1) or original(self, status))
    with LiveRun(run, TrainControl()) as live:
        live.record(ev.Start(config={"epochs": 1}, vocab_size=3, corpus={}, device="cpu", num_parameters=1,
                             batches_per_epoch=10_000))
        started = time.monotonic()
        for batch in range(10_000):
            live.record(ev.Progress(epoch=1, batch=batch, batches=10_000, train_perplexity=2.0,
                                    tokens_per_sec=1.0, elapsed_s=0.0))
        seconds = time.monotonic() - started
        assert json.loads(run.status_path.read_text())["state"] == "training"
    assert len(writes) <= 2 + seconds / 0.5 + 1
    assert [e["event"] for e in events_of(run.path)] == ["start"]  # no progress in the event log


def test_a_watch_tells_no_progress_after_the_runs_end(tmp_path):
    """status.json keeps the last progress once a run ends: told after ``finished`` it would show the bar and
    the ETA of the epoch a stop cut short, under the status line that says it stopped."""
    run = RunDir(tmp_path / "r")
    run.path.mkdir()
    progress = {"epoch": 10, "batch": 51, "batches": 160, "train_perplexity": 3.7, "tokens_per_sec": 1e5,
                "elapsed_s": 8.8, "eta_s": 274.6}
    run.write_status({"state": "training", "epoch": 9, "progress": progress, "pid": os.getpid()})  # this process's
    watch = RunWatch(run.path)
    assert [type(event) for event in watch.poll()] == [ev.Progress]  # training: told
    run.append_event(ev.Finished(status="stopped", epoch=9, train_perplexity=3.7, val_perplexity=None,
                                 tokens_per_sec=1e5, device="cpu", elapsed_s=8.9).to_dict())
    run.write_status({"state": "finished", "epoch": 9, "progress": {**progress, "batch": 52}, "pid": os.getpid()})
    assert [type(event) for event in watch.poll()] == [ev.Finished]


def test_a_status_whose_perplexity_overflowed_is_still_read_its_number_none(tmp_path):
    """exp of a loss over ~709 nats is inf: status.json must hold what its own reader takes, as events do."""
    run = RunDir(tmp_path / "run")
    with LiveRun(run, TrainControl()) as live:
        live.record(ev.Start(config={"epochs": 2}, vocab_size=3, corpus={}, device="cpu", num_parameters=1,
                             batches_per_epoch=10))
        live.record(ev.Epoch(epoch=1, epochs=2, train_perplexity=float("inf"), val_perplexity=float("nan"),
                             tokens_per_sec=1.0, grad_norm=1.0, elapsed_s=1.0, eta_s=1.0, train_loss=800.0))
        status = run.read_status()
        assert status is not None and status["state"] == "training"
        assert status["train_perplexity"] is None and status["val_perplexity"] is None and status["epoch"] == 1
