"""The runs screen (f2) and the compare view, driven under Pilot over a runs root written here."""
import html
import json
from pathlib import Path

import pytest
from textual.widgets import DataTable

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.runs import RunDir
from rnn_tui.tui.app import RnnTuiApp
from rnn_tui.tui.run_table import RUNS_HEADER, runs_row
from rnn_tui.tui.screens import ConfirmDelete, NextRun
from rnn_tui.tui.runs_screen import CompareScreen, RunsScreen
from rnn_tui.tui.widgets.compare_chart import CompareChart
from helpers import screen_lines, wait_until


def write_run(root: Path, name: str, hidden: int, val: list[float], status: str = "completed") -> Path:
    """A finished run's folder as rnn-tui writes it, with made-up but fixed metrics."""
    run = RunDir(root / name)
    run.create(TrainConfig(corpus="markov", hidden=hidden, epochs=len(val), device="cpu").to_dict())
    for epoch, value in enumerate(val, 1):
        run.append_metrics({"epoch": epoch, "epochs": len(val), "train_perplexity": value + 0.5,
                            "val_perplexity": value, "tokens_per_sec": 1000.0 * hidden, "grad_norm": 1.0,
                            "elapsed_s": 2.0 * epoch, "eta_s": 0.0, "train_loss": 1.0})
    best = min(range(len(val)), key=val.__getitem__)
    run.write_status({"pid": 1, "host": "elsewhere", "started_at": 1_800_000_000 + hidden, "state": "finished",
                      "finished": status, "device": "cpu", "batches_per_epoch": 10, "epoch": len(val),
                      "epochs": len(val), "train_perplexity": val[-1] + 0.5, "tokens_per_sec": 1000.0 * hidden,
                      "best_val_perplexity": val[best], "best_val_epoch": best + 1})
    return run.path


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"  # the runs root of a test: conftest runs it in tmp_path
    write_run(root, "a-hidden-256", 256, [9.0, 6.0, 5.0, 4.5])
    write_run(root, "b-hidden-512", 512, [8.0, 5.0, 4.0, 3.9])
    write_run(root, "c-hidden-64", 64, [12.0, 11.0], status="stopped")
    (root / "scratch").mkdir()
    return root


async def open_runs_screen(pilot) -> RunsScreen:
    """f2, then wait for the table's first rows."""
    await pilot.press("f2")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, RunsScreen) and table_names(pilot.app.screen),
                     timeout=10)
    return pilot.app.screen


def table_names(screen: RunsScreen) -> list[str]:
    table = screen.query_one(DataTable)
    return [Path(key.value).name for key in table.rows]


async def test_the_runs_screen_sorts_filters_marks_compares_and_opens(runs_root):
    app = RnnTuiApp(TrainConfig(corpus="markov", device="cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_runs_screen(pilot)
        assert table_names(screen) == ["b-hidden-512", "a-hidden-256", "c-hidden-64", "scratch"]  # newest first
        await pilot.press("s")  # by name
        await wait_until(pilot, lambda: table_names(screen)[0] == "a-hidden-256", timeout=10)
        while screen.sort != "val":
            await pilot.press("s")
        await wait_until(pilot, lambda: table_names(screen)[:3] == ["b-hidden-512", "a-hidden-256", "c-hidden-64"],
                         timeout=10)
        await pilot.press("slash", *"hidden-")  # typing filters
        await wait_until(pilot, lambda: "scratch" not in table_names(screen), timeout=5)
        await pilot.press("enter")  # back to the table
        await pilot.press("space", "down", "space", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen), timeout=5)
        chart = app.screen.query_one(CompareChart)
        assert [label for label, _, _ in chart.series] == ["hidden=512", "hidden=256"]
        for (label, x, y), name in zip(chart.series, ["b-hidden-512", "a-hidden-256"]):
            metrics = [json.loads(line) for line in (runs_root / name / "metrics.jsonl").read_text().splitlines()]
            assert x == [m["epoch"] for m in metrics] and y == [m["val_perplexity"] for m in metrics]
        await pilot.press("t", "x")  # training perplexity against seconds
        assert chart.series[0][1] == [2.0, 4.0, 6.0, 8.0] and chart.series[0][2] == [8.5, 5.5, 4.5, 4.4]
        await pilot.press("x")  # tokens seen: epochs x batches x batch size x steps
        assert chart.series[0][1] == [e * 10 * 32 * 35 for e in (1, 2, 3, 4)]
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen, timeout=5)
        await pilot.press("enter")  # open the run under the cursor in the dashboard
        await wait_until(pilot, lambda: app.state.link is not None and app.state.link.path.name == "a-hidden-256", timeout=5)
        await wait_until(pilot, lambda: not app.state.live, timeout=10)  # finished: its history on screen
        assert Path(app.state.run_dir).resolve() == runs_root / "a-hidden-256"  # what ctrl+r offers to train on
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, NextRun), timeout=5)
        await pilot.press("escape")


async def test_delete_asks_first_and_a_note_is_kept_in_the_folder(runs_root):
    app = RnnTuiApp(TrainConfig(corpus="markov", device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_runs_screen(pilot)
        await pilot.press("n", *"lr too high", "enter")
        await wait_until(pilot, lambda: (runs_root / "b-hidden-512" / "note.txt").exists(), timeout=5)
        assert (runs_root / "b-hidden-512" / "note.txt").read_text() == "lr too high\n"
        await pilot.press("d")  # asked, the folder's size as the table shows it
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDelete), timeout=5)
        size = runs_row(screen.summary(str(runs_root / "b-hidden-512")))["size"]
        assert f"Its folder ({size}:" in html.unescape(app.export_screenshot()).replace("\xa0", " ")
        await pilot.press("n")  # and kept
        await pilot.pause()
        assert (runs_root / "b-hidden-512").exists()
        await pilot.press("d", "y")
        await wait_until(pilot, lambda: "b-hidden-512" not in table_names(screen), timeout=10)
        assert not (runs_root / "b-hidden-512").exists()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_snapshot_of_the_compare_view(snap_compare, runs_root, size):
    async def compare(pilot):
        await open_runs_screen(pilot)
        await pilot.press("space", "down", "space", "c")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen), timeout=5)
        await pilot.pause(0.3)
    assert snap_compare(RnnTuiApp(TrainConfig(corpus="markov", device="cpu")), terminal_size=size, run_before=compare)


async def test_rows_follow_the_runs_as_they_train(runs_root):
    app = RnnTuiApp(TrainConfig(corpus="markov", device="cpu"))
    async with app.run_test(size=(120, 40)) as pilot:
        table = (await open_runs_screen(pilot)).query_one(DataTable)
        key = next(key for key in table.rows if key.value.endswith("c-hidden-64"))
        epochs_cell = lambda: str(table.get_row(key)[1 + RUNS_HEADER.index("epochs")])  # noqa: E731
        assert epochs_cell() == "2/2"
        run = RunDir(runs_root / "c-hidden-64")
        run.write_status({**run.read_status(), "epoch": 3, "epochs": 5})  # as a training run does, epoch by epoch
        await wait_until(pilot, lambda: epochs_cell() == "3/5", timeout=10)


def test_a_run_is_deleted_only_when_it_is_a_finished_run_folder(tmp_path, runs_root):
    import os
    import socket

    import psutil
    from rnn_tui.engine.summary import delete_run
    live = RunDir(runs_root / "a-hidden-256")
    me = psutil.Process()  # this process stands in for a live run's
    live.write_status({**live.read_status(), "state": "training", "pid": os.getpid(), "host": socket.gethostname(),
                       "process_started": me.create_time()})
    with pytest.raises(ValueError, match="is training"):
        delete_run(live.path)
    with pytest.raises(ValueError, match="not a run folder"):
        delete_run(runs_root / "scratch")
    assert live.path.exists() and (runs_root / "scratch").exists()
    delete_run(runs_root / "c-hidden-64")
    assert not (runs_root / "c-hidden-64").exists()


async def test_at_80_columns_the_name_stays_and_best_validation_shows_and_the_rest_scrolls(runs_root):
    app = RnnTuiApp(TrainConfig(corpus="markov", device="cpu"))
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runs_screen(pilot)
        header = lambda: next(line for line in screen_lines(app) if line.lstrip().startswith("run "))  # noqa: E731
        assert "best val (ep)" in header() and "3.900 (4)" in "\n".join(screen_lines(app))
        assert "started" not in header()  # past the edge, until scrolled to
        app.animation_level = "none"  # each key's scroll at once, not an animation the next key restarts
        await pilot.press(*["right"] * 80)  # ← / → scroll the columns; the run's name stays (the header found by it)
        await wait_until(pilot, lambda: "started" in header() and "status" not in header(), timeout=5)
        assert "b-hidden-512" in "\n".join(screen_lines(app))
