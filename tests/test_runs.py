import json
import os
import pickle
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from rnn_tui.engine import checkpoint as ckpt
from rnn_tui.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from rnn_tui.engine.launch import rnn_tui_command
from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.session import recorded_run
from rnn_tui.engine.trainer import Trainer
from helpers import pattern_text, rnn_tui, tiny_config


def run_to_end(config, text, run_dir, resume=None):
    trainer = Trainer(config, text, {"name": "t"}, resume=resume)
    return [e.to_dict() for e in recorded_run(trainer, RunDir(run_dir), resumed=resume is not None)]


def losses(events):
    return [e["train_loss"] for e in events if e["event"] == "epoch"]


@pytest.mark.parametrize("optimizer,sampler", [("sgd", "sequential"), ("adam", "random")])
def test_exact_resume_gives_identical_losses(tmp_path, optimizer, sampler):
    text = pattern_text()
    config = dict(optimizer=optimizer, lr=1.0 if optimizer == "sgd" else 0.01, sampler=sampler, model="gru",
                  dropout=0.2, layers=2, sample_every=2)
    straight = losses(run_to_end(tiny_config(epochs=5, **config), text, tmp_path / "a"))
    run_to_end(tiny_config(epochs=2, **config), text, tmp_path / "b")
    state = load_checkpoint(tmp_path / "b")
    assert state["epoch"] == 2
    resumed = run_to_end(tiny_config(epochs=5, **config), text, tmp_path / "b", resume=state)
    assert losses(resumed) == straight[2:]
    metrics = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2, 3, 4, 5]
    assert [m["train_loss"] for m in metrics] == straight


def test_checkpoint_holds_everything_needed(tmp_path):
    run_to_end(tiny_config(epochs=1), pattern_text(), tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["format"] == ckpt.FORMAT and state["version"] == ckpt.VERSION
    assert {"python", "torch"} <= set(state["rng"]) and state["history"][0]["epoch"] == 1
    assert state["vocab"][0] == "<unk>" and state["config"]["hidden"] == 32


def test_samples_file_holds_the_periodic_and_the_closing_samples(tmp_path):
    events = run_to_end(tiny_config(epochs=3, sample_every=2, prefix="the cat"), pattern_text(), tmp_path)
    periodic = [e for e in events if e["event"] == "sample"]
    closing = next(e for e in events if e["event"] == "finished")["samples"]
    assert [s["prefix"] for s in closing] == ["the cat", "cat"]
    expected = f"--- epoch 2\n{periodic[0]['text']}\n" + "".join(f"--- epoch 3, final\n{s['text']}\n" for s in closing)
    assert (tmp_path / "samples.txt").read_text(encoding="utf-8") == expected


def test_failing_disk_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint({"epoch": 1, "marker": torch.tensor([1])}, tmp_path / "checkpoint.pt")
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ckpt.torch, "save", full_disk)
    with pytest.raises(OSError):
        save_checkpoint({"epoch": 2}, tmp_path / "checkpoint.pt")
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left behind


def test_checkpoint_failure_is_reported_and_training_goes_on(tmp_path, monkeypatch):
    real_save = ckpt.torch.save
    calls = {"n": 0}

    def flaky(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *a, **k)
    monkeypatch.setattr(ckpt.torch, "save", flaky)
    events = run_to_end(tiny_config(epochs=3, val_fraction=0.0), pattern_text(), tmp_path)  # no best.pt saves
    checkpoints = [e for e in events if e["event"] == "checkpoint"]
    assert [c["ok"] for c in checkpoints] == [True, False, True]
    assert "No space left" in checkpoints[1]["error"]
    assert events[-1]["status"] == "completed" and load_checkpoint(tmp_path)["epoch"] == 3


def test_every_write_of_the_run_folder_fails_soft_and_is_told_once(tmp_path, monkeypatch):
    real_append = RunDir._append

    def full_disk_in_epochs_2_and_3(self, name, text):
        if '"epoch": 2' in text or '"epoch": 3' in text or name == "samples.txt":
            raise OSError(28, "No space left on device")
        return real_append(self, name, text)
    monkeypatch.setattr(RunDir, "_append", full_disk_in_epochs_2_and_3)
    events = run_to_end(tiny_config(epochs=4, sample_every=1), pattern_text(), tmp_path)
    failed = [(Path(e["path"]).name, e["error"]) for e in events if e["event"] == "write_failed"]
    assert failed == [("samples.txt", "No space left on device"), ("metrics.jsonl", "No space left on device")]
    assert events[-1]["status"] == "completed" and load_checkpoint(tmp_path)["epoch"] == 4
    assert [json.loads(line)["epoch"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [1, 4]


def test_a_folder_that_keeps_nothing_for_a_whole_epoch_ends_the_run_saying_so(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    def torch_full(*args, **kwargs):  # what torch.save raises when the disk fills mid-write
        raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file")
    monkeypatch.setattr(RunDir, "_append", full)
    monkeypatch.setattr(ckpt.torch, "save", torch_full)
    events = run_to_end(tiny_config(epochs=5), pattern_text(), tmp_path)
    finished = events[-1]
    assert finished["status"] == "unwritable" and finished["epoch"] == 1 and "whole epoch" in finished["reason"]
    assert [e["ok"] for e in events if e["event"] == "checkpoint"] == [False] * 3  # best, latest, then at the end
    assert not list(tmp_path.glob(".checkpoint-*.tmp"))


class Payload:
    def __reduce__(self):
        return (os.system, (f"touch {Path.cwd() / 'PWNED'}",))


def test_hostile_pickle_is_refused_and_never_executed(tmp_path, recwarn):
    path = tmp_path / "evil.pt"
    torch.save({"format": ckpt.FORMAT, "version": 1, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    plain = tmp_path / "evil.pkl"
    plain.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CheckpointError):
        load_checkpoint(plain)
    assert not (Path.cwd() / "PWNED").exists()
    assert [str(w.message) for w in recwarn] == []  # the refusal is the one line a user sees


def test_corrupt_truncated_and_foreign_files_are_refused(tmp_path):
    run_to_end(tiny_config(epochs=1), pattern_text(), tmp_path / "run")
    good = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "garbage.pt").write_bytes(os.urandom(4096))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    torch.save({"format": ckpt.FORMAT, "version": 99}, tmp_path / "future.pt")
    os.mkfifo(tmp_path / "fifo.pt")  # reading it would block forever
    for name, message in [("truncated.pt", "corrupt or truncated"), ("garbage.pt", "corrupt or truncated|refused"),
                          ("foreign.pt", "not an rnn-tui checkpoint"), ("future.pt", "format version 99"),
                          ("missing.pt", "not found"), ("fifo.pt", "not a regular file")]:
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(tmp_path / name)


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP"])
def test_signals_stop_at_a_minibatch_checkpoint_and_resume(tmp_path, signame):
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        rnn_tui_command("train", "--corpus", "markov:length=60000", "--hidden", "32", "--epochs", "200", "--json",
                        "--sample-every", "0", "--device", "cpu", "--run-dir", str(run_dir)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in process.stdout:
        if json.loads(line).get("event") == "checkpoint":  # one epoch done and saved
            break
    process.send_signal(getattr(signal, signame))
    rest, err = process.communicate(timeout=60)
    assert process.returncode == 128 + getattr(signal, signame)
    finished = json.loads(rest.strip().splitlines()[-1])
    assert finished["event"] == "finished" and finished["status"] == "interrupted" and finished["reason"] == signame
    assert f"resume with: rnn-tui train --resume {run_dir}" in err and "Traceback" not in err
    state = load_checkpoint(run_dir)
    assert state["epoch"] == finished["epoch"] >= 1
    resumed = rnn_tui("train", "--resume", str(run_dir), "--epochs", str(state["epoch"] + 1), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[0])["start_epoch"] == state["epoch"]
    generated = rnn_tui("generate", str(run_dir), "--length", "20", "--prefix", "ab")
    assert generated.returncode == 0 and len(generated.stdout.strip()) == 22


@pytest.fixture
def small_disk(tmp_path):
    """A 700 KiB tmpfs: a real full disk (root only; skipped, saying so, where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip() or 'not root'}); "
                    "test_every_write_of_the_run_folder_fails_soft_and_is_told_once simulates it")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


DISK_RUN = ["train", "--corpus", "markov:length=20000", "--model", "scratch-rnn", "--hidden", "256",
            "--epochs", "4", "--device", "cpu", "--sample-every", "1"]


def test_a_disk_that_fills_during_training_costs_checkpoints_not_the_run(small_disk):
    result = rnn_tui(*DISK_RUN, "--run-dir", str(small_disk / "run"), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "not written" in result.stderr
    assert load_checkpoint(small_disk / "run")["epoch"] >= 1  # the last one that fitted, intact
    assert not list((small_disk / "run").glob(".checkpoint-*.tmp"))


def test_a_disk_full_from_the_start_ends_the_run_after_one_epoch_saying_why(small_disk):
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"x" * 4096)
        except OSError:
            pass  # full
    result = rnn_tui(*DISK_RUN, "--run-dir", str(small_disk / "run"), timeout=300)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "unwritable: nothing could be written" in result.stdout


def test_a_run_folder_deleted_while_training_is_made_again_and_the_run_goes_on(tmp_path):
    import shutil
    run = RunDir(tmp_path / "run")
    events = []
    for event in recorded_run(Trainer(tiny_config(epochs=3), pattern_text()), run):
        events.append(event.to_dict())
        if event.event == "epoch" and event.epoch == 1:
            shutil.rmtree(run.path)  # as a careless `rm -r runs/…` would
    told = [e for e in events if e["event"] == "write_failed"]
    assert len(told) == 1 and told[0]["path"] == str(run.path) and "made again" in told[0]["error"]
    assert events[-1]["status"] == "completed" and load_checkpoint(run.path)["epoch"] == 3
    assert run.read_config()["epochs"] == 3
    assert [json.loads(line)["epoch"] for line in run.metrics_path.read_text().splitlines()] == [2, 3]
