"""`rnn-tui runs` and `rnn-tui compare` over a runs root of every kind of folder."""
import json
import shutil

import pytest
from rich.cells import cell_len

from rnn_tui.engine.runs import RunDir
from rnn_tui.engine.summary import load_curve, read_metrics
from helpers import SMALL, rnn_tui

KEYS = ["name", "path", "status", "model", "hidden", "layers", "corpus", "epochs_done", "epochs",
        "best_val_perplexity", "best_val_epoch", "best_val_loss_windows", "train_perplexity", "tokens_per_sec", "device", "started_at",
        "size_bytes", "problem", "note"]


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory):
    """Two real runs (hidden 16 and 32); copies turned stopped, gone, corrupt and old; a folder of notes."""
    root = tmp_path_factory.mktemp("runs")
    for hidden in (16, 32):
        result = rnn_tui("train", *SMALL, "--epochs", "3", "--hidden", str(hidden), "--run-dir",
                         str(root / f"h{hidden}"))
        assert result.returncode == 0, result.stderr
    for name, change in (("stopped", {"finished": "stopped"}),
                         ("gone", {"state": "training", "finished": None, "pid": 2**22 + 7})):
        shutil.copytree(root / "h32", root / name)
        status = json.loads((root / name / "status.json").read_text())
        (root / name / "status.json").write_text(json.dumps({**status, **change}))
    shutil.copytree(root / "h32", root / "corrupt")
    (root / "corrupt" / "config.json").write_text("{not json")
    shutil.copytree(root / "h16", root / "old")  # as written before status.json: metrics tell
    (root / "old" / "status.json").unlink()
    with open(root / "old" / "metrics.jsonl", "a") as metrics:
        metrics.write('{"epoch": \n')  # a half-written line
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a run")
    return root


def test_runs_lists_every_folder_with_its_status_and_never_fails(runs_root):
    result = rnn_tui("runs", "--root", str(runs_root), "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert all(list(row) == KEYS for row in rows.values())  # stable keys, in order
    assert {name: row["status"] for name, row in rows.items()} == {
        "h16": "completed", "h32": "completed", "stopped": "stopped", "gone": "gone", "corrupt": "corrupt",
        "old": "gone", "notes": "not a run"}
    h32 = rows["h32"]
    records, _ = read_metrics(RunDir(runs_root / "h32"))
    best = min(records, key=lambda r: r["val_perplexity"])
    assert (h32["epochs_done"], h32["epochs"], h32["hidden"], h32["layers"]) == (3, 3, 32, 1)
    assert (h32["best_val_perplexity"], h32["best_val_epoch"]) == (best["val_perplexity"], best["epoch"])
    assert h32["train_perplexity"] == records[-1]["train_perplexity"] and h32["device"] == "cpu"
    old, h16 = rows["old"], rows["h16"]  # read from its metrics: the same figures its status.json held
    assert "unreadable line" in old["problem"] and old["device"] is None
    assert [old[k] for k in KEYS[3:13]] == [h16[k] for k in KEYS[3:13]]

    table = rnn_tui("runs", "--root", str(runs_root), "--sort", "val")
    assert table.returncode == 0 and "Traceback" not in table.stderr
    lines, notes = table.stdout.split("\n\n")  # the table, then a line per folder with a problem
    lines = lines.splitlines()
    assert lines[0].split() == ["run", "status", "best", "val", "(ep)", "epochs", "model", "note"]
    assert max(map(len, lines)) <= 80 and "N/A" in table.stdout  # 80 columns by default
    assert "notes: no config.json" in notes and "corrupt: config.json" in notes
    listed = [line.split()[0] for line in lines[2:]]
    vals = [rows[name]["best_val_perplexity"] for name in listed if rows[name]["best_val_perplexity"] is not None]
    assert vals == sorted(vals) and listed[-1] in ("notes", "corrupt")  # best first, no value last


def test_runs_wide_shows_every_column_and_a_note_is_cut_to_fit_80(runs_root, tmp_path):
    wide = rnn_tui("runs", "--root", str(runs_root), "--wide")
    header = wide.stdout.splitlines()[0]
    for name in ("hidden", "corpus", "train", "tokens/s", "device", "started", "size", "note"):
        assert name in header
    root = tmp_path / "noted"
    shutil.copytree(runs_root / "h16", root / "h16")
    (root / "h16" / "note.txt").write_text("批注 " * 60)  # wide characters: two columns each
    narrow = rnn_tui("runs", "--root", str(root))
    row = narrow.stdout.splitlines()[2]
    assert row.endswith("…") and 75 <= cell_len(row) <= 80  # cut, with all the room it has


def test_compare_names_what_differs_and_plots_the_runs_metrics(runs_root):
    runs = [str(runs_root / "h16"), str(runs_root / "h32")]
    result = rnn_tui("compare", *runs, "--json")
    assert result.returncode == 0, result.stderr
    comparison = json.loads(result.stdout)
    assert comparison["differing"] == ["hidden"]
    assert [run["label"] for run in comparison["runs"]] == ["hidden=16", "hidden=32"]
    table = rnn_tui("compare", *runs, "--plot", env={**__import__("os").environ, "NO_COLOR": "1"})
    assert table.returncode == 0 and "hidden=16" in table.stdout and "val perplexity" in table.stdout
    for run in runs:  # the curves drawn are the runs' own metrics
        curve = load_curve(run, "x")
        records, _ = read_metrics(RunDir(run))
        assert curve.val == [r["val_perplexity"] for r in records] and curve.epochs == [1, 2, 3]
        assert curve.tokens[0] > 0 and curve.tokens == [e * curve.tokens[0] for e in (1, 2, 3)]


@pytest.mark.parametrize("args,message", [((), "two runs or more"), (("notes",), "two runs or more"),
                                          (("h16", "notes"), "notes is not a run folder")])
def test_compare_refuses_what_it_cannot_compare_in_one_line(runs_root, args, message):
    result = rnn_tui("compare", *(str(runs_root / a) for a in args))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr
