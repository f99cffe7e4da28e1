"""The runs screen (f2): every run under the runs root, and the compare view of the runs marked on it.

The table is ``rnn-tui runs`` (engine/summary.py) as a DataTable, refreshed by a thread worker
while runs train. Enter opens a run in the dashboard (attached if live); space marks, c compares.
"""
from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Label

from rnn_tui.engine.phases import RunState
from rnn_tui.engine.summary import RunSummary, compare_runs, delete_run, summarize_all, write_note
from rnn_tui.tui.formatting import NA
from rnn_tui.tui.run_table import RUNS_HEADER, runs_row
from rnn_tui.tui.screens import ConfirmDelete, NoteScreen
from rnn_tui.tui.widgets.compare_chart import CompareChart

REFRESH_S = 2.0
SORTS = ["started", "name", "status", "model", "epochs", "val", "train", "speed", "size"]


class RunsScreen(Screen):
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="back to the dashboard"),
        Binding("space", "mark", "Mark", tooltip="mark / unmark the run for comparing"),
        Binding("c", "compare", "Compare", tooltip="overlay the marked runs' curves"),
        Binding("s", "sort", "Sort", tooltip="sort by the next column"),
        Binding("slash", "filter", "Filter", tooltip="type to keep only the runs that match"),
        Binding("n", "note", "Note", tooltip="write a note on the run"),
        Binding("d", "delete", "Delete", tooltip="delete the run's folder (asks first)"),
        Binding("w", "sweep", "Sweep", tooltip="the sweep the run is a trial of: its trials and charts"),
    ]

    def __init__(self, root: str | None = None):
        super().__init__()
        self.root = root
        self.sort = "started"
        self.summaries: list[RunSummary] = []
        self.marked: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: part of a name, status, model, corpus or note ( / )", id="runs-filter",
                    compact=True)
        # the run's name stays in view; ←/→ scroll the columns past what 80 columns hold
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True, fixed_columns=2)
        yield Label("", id="runs-hint")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("", *RUNS_HEADER)
        table.focus()
        self.refresh_runs()
        self.set_interval(REFRESH_S, self.refresh_runs)

    @work(thread=True, exclusive=True, group="runs")
    def refresh_runs(self) -> None:
        summaries = summarize_all(self.root, self.sort)
        self.app.call_from_thread(self.show_runs, summaries)

    def show_runs(self, summaries: list[RunSummary]) -> None:
        self.summaries = summaries
        table = self.query_one(DataTable)
        words = self.query_one(Input).value.lower().split()
        current, scrolled = self.current_path(), table.scroll_x  # a refresh keeps the row and the columns in view
        table.clear()
        for s in summaries:
            row = runs_row(s)
            searched = [row[name].lower() for name in ("run", "status", "model", "hidden", "corpus", "note")]
            if words and not all(any(w in cell for cell in searched) for w in words):
                continue
            table.add_row("●" if s.path in self.marked else " ", *map(Text, row.values()), key=s.path)
        if current in [s.path for s in summaries] and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        table.call_after_refresh(table.scroll_to, x=scrolled, animate=False)
        self.query_one("#runs-hint", Label).update(
            f"{table.row_count} of {len(summaries)} runs · sorted by {self.sort} · {len(self.marked)} marked · "
            "enter opens, space marks, c compares")

    def current_path(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def summary(self, path: str | None) -> RunSummary | None:
        return next((s for s in self.summaries if s.path == path), None)

    # -- actions ---------------------------------------------------------------------------------------
    def action_close(self) -> None:
        if self.query_one(Input).has_focus:
            self.query_one(DataTable).focus()
        else:
            self.dismiss(None)

    def action_filter(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, _event: Input.Changed) -> None:
        self.show_runs(self.summaries)

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.query_one(DataTable).focus()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.refresh_runs()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        by_column = {"run": "name", "status": "status", "model": "model", "epochs": "epochs",
                     "best val (ep)": "val", "train": "train", "tokens/s": "speed", "started": "started",
                     "size": "size"}
        sort = by_column.get(str(event.label))
        if sort:
            self.sort = sort
            self.refresh_runs()

    def action_mark(self) -> None:
        path = self.current_path()
        if path is None:
            return
        self.marked.symmetric_difference_update({path})
        self.query_one(DataTable).update_cell(path, self.query_one(DataTable).ordered_columns[0].key,
                                              "●" if path in self.marked else " ")
        self.show_runs(self.summaries)

    def action_compare(self) -> None:
        marked = [s.path for s in self.summaries if s.path in self.marked and s.status not in ("not a run", "corrupt")]
        if len(marked) < 2:
            self.notify("mark two runs or more with space, then press c", severity="warning")
            return
        self.app.push_screen(CompareScreen(marked))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        summary = self.summary(event.row_key.value)
        if summary is None or summary.status in ("not a run", "corrupt"):
            self.notify(f"{summary.name if summary else 'this'} is not a run that can be opened", severity="warning", markup=False)
            return
        self.dismiss(summary.path)  # the dashboard opens it

    def action_sweep(self) -> None:
        from rnn_tui.engine.runs import SWEEP_MARKER
        path = self.current_path()
        folder = path and Path(path).parent
        if not folder or not (folder / SWEEP_MARKER).is_file():
            self.notify("this run is not a sweep's trial (rnn-tui sweep)", severity="warning")
            return
        from rnn_tui.tui.sweep_screen import SweepScreen
        self.app.push_screen(SweepScreen(folder), lambda run: run and self.dismiss(run))

    def action_note(self) -> None:
        summary = self.summary(self.current_path())
        if summary is None or summary.status == "not a run":
            return

        def written(text: str | None) -> None:
            if text is not None:
                write_note(summary.path, text)
                self.refresh_runs()
        self.app.push_screen(NoteScreen(summary.name, summary.note), written)

    def action_delete(self) -> None:
        summary = self.summary(self.current_path())
        if summary is None:
            return
        if summary.status == RunState.LIVE:
            self.notify(f"{summary.name} is training: stop it before deleting it", severity="error", markup=False)
            return

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                delete_run(summary.path)
            except (ValueError, OSError) as exc:
                self.notify(str(exc), severity="error", markup=False)
            else:
                self.marked.discard(summary.path)
                self.notify(f"deleted {summary.name}", markup=False)
            self.refresh_runs()
        self.app.push_screen(ConfirmDelete(summary.name, summary.size_bytes), answered)


class CompareScreen(Screen):
    """The marked runs' curves overlaid, and the options that differ between them beside their best."""
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the runs"),
        Binding("t", "metric", "Train/val", tooltip="validation or training perplexity"),
        Binding("x", "x_axis", "X axis", tooltip="against epochs, seconds or tokens seen"),
        Binding("ctrl+l", "log_scale", "Log", tooltip="toggle the log scale"),
    ]

    def __init__(self, paths: list[str]):
        super().__init__()
        self.paths = paths

    def compose(self) -> ComposeResult:
        comparison = compare_runs(self.paths)
        with Vertical():
            yield CompareChart(comparison.curves(), ascii_only=getattr(self.app, "ascii_only", False),
                               plain=bool(os.environ.get("NO_COLOR")), id="compare-chart")
            table = DataTable(id="compare-table", cursor_type="row", zebra_stripes=True)
            table.add_columns("run", *comparison.differing, "best val (ep)", "final train")
            for label, config, summary in zip(comparison.labels, comparison.configs, comparison.summaries):
                row = runs_row(summary)
                table.add_row(Text(label), *(Text(str(config.get(name, NA))) for name in comparison.differing),
                              row["best val (ep)"], row["train"])
            yield table
        yield Footer()

    def action_metric(self) -> None:
        self.query_one(CompareChart).toggle_metric()

    def action_x_axis(self) -> None:
        self.query_one(CompareChart).next_x_axis()

    def action_log_scale(self) -> None:
        self.query_one(CompareChart).toggle_log_scale()
