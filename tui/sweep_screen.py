"""The sweep screen (w on a trial in f2): a sweep's trials, best so far by trial, and one parameter
against the objective, refreshed while it runs. Enter opens a trial's run in the dashboard."""
from __future__ import annotations

import math
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label
from textual_plotext import PlotextPlot

from rnn_tui.engine.runs import RunDir
from rnn_tui.tui.formatting import NA, format_number, format_seconds, format_value

REFRESH_S = 2.0


class SweepScreen(Screen):
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="back to the runs"),
        Binding("p", "next_param", "Param", tooltip="plot the next parameter against the objective"),
    ]

    def __init__(self, folder: str | Path):
        super().__init__()
        self.folder = Path(folder)
        self.report: dict | None = None
        self.param: str | None = None  # the parameter plotted against the objective

    def compose(self) -> ComposeResult:
        with Vertical():
            with Horizontal(id="sweep-charts"):
                yield PlotextPlot(id="sweep-best")
                yield PlotextPlot(id="sweep-param")
            yield DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True, fixed_columns=1)
            yield Label(f"sweep {self.folder.name}: reading its study…", id="sweep-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.refresh_report()
        self.set_interval(REFRESH_S, self.refresh_report)

    @work(thread=True, exclusive=True, group="sweep")
    def refresh_report(self) -> None:
        from rnn_tui.engine.sweep import read_sweep
        try:
            report = read_sweep(self.folder)
        except ValueError as exc:  # not a study on this box (a database's), or damaged
            self.app.call_from_thread(self.query_one("#sweep-hint", Label).update, str(exc))
            return
        self.app.call_from_thread(self.show_report, report)

    def show_report(self, report: dict) -> None:
        self.report = report
        names = list(dict.fromkeys(p for row in report["trials"] for p in row["params"]))
        if self.param not in names:
            self.param = names[0] if names else None
        table = self.query_one(DataTable)
        current = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        table.clear(columns=True)
        table.add_columns("trial", "state", *names, "best (nats)", "epochs", "time")
        for row in report["trials"]:
            table.add_row(Text(str(row["trial"])), Text(row["state"]), *(Text(format_value(row["params"].get(p))) for p in names),
                          Text(format_number(row["value"], ".4f")), Text(format_value(row["epochs"])),
                          Text(format_seconds(row["time_s"])), key=str(row["trial"]))
        if current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)
        done = sum(row["state"] in ("complete", "pruned") for row in report["trials"])
        best = report["best"]
        said = f"best: trial {best['trial']}, {best['value']:.4f} nats" if best else "no trial has completed yet"
        self.query_one("#sweep-hint", Label).update(
            f"sweep {report['name']}: {done} of {report['target']} trials done · {said} · enter opens a trial's run")
        self.draw_charts(report)

    def draw_charts(self, report: dict) -> None:
        complete = [row for row in report["trials"] if row["state"] == "complete" and row["value"] is not None]
        plain = getattr(self.app, "ascii_only", False)
        best_chart = self.query_one("#sweep-best", PlotextPlot)
        plt = best_chart.plt
        plt.clear_figure()
        plt.title("best so far (nats)")
        plt.xlabel("trial")
        if complete:
            steps_x, steps_y, best = [], [], math.inf  # a step down at each trial that beat the rest
            for row in sorted(complete, key=lambda r: r["trial"]):
                if row["value"] < best and steps_x:
                    steps_x.append(row["trial"])
                    steps_y.append(best)
                best = min(best, row["value"])
                steps_x.append(row["trial"])
                steps_y.append(best)
            plt.plot(steps_x, steps_y, marker="*" if plain else "braille", label="best so far")
            plt.scatter([r["trial"] for r in complete], [r["value"] for r in complete], marker="x" if plain else "dot",
                        label="trial")
            numbers = sorted({r["trial"] for r in complete})
            plt.xticks(numbers[:: max(1, len(numbers) // 8)])  # trials are whole numbers
        best_chart.refresh()
        param_chart = self.query_one("#sweep-param", PlotextPlot)
        plt = param_chart.plt
        plt.clear_figure()
        plt.title(f"{self.param or NA} against the objective")
        plt.xlabel(self.param or "")
        points = [(row["params"].get(self.param), row["value"]) for row in complete]
        numeric = [(x, y) for x, y in points if isinstance(x, (int, float))]
        if numeric:
            plt.scatter([x for x, _ in numeric], [y for _, y in numeric], marker="x" if plain else "dot")
        elif points:  # a choice of words: one column per value
            labels = list(dict.fromkeys(str(x) for x, _ in points))
            plt.scatter([labels.index(str(x)) for x, _ in points], [y for _, y in points], marker="x")
            plt.xticks(list(range(len(labels))), labels)
        param_chart.refresh()

    # -- actions ---------------------------------------------------------------------------------------
    def action_close(self) -> None:
        self.dismiss(None)

    def action_next_param(self) -> None:
        if not self.report:
            return
        names = list(dict.fromkeys(p for row in self.report["trials"] for p in row["params"]))
        if names:
            self.param = names[(names.index(self.param) + 1) % len(names)] if self.param in names else names[0]
            self.draw_charts(self.report)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in (self.report or {}).get("trials", []) if str(r["trial"]) == event.row_key.value), None)
        if row is None or not row["run_dir"] or not RunDir(row["run_dir"]).holds_run():
            self.notify("this trial has no run to open yet", severity="warning")
            return
        self.dismiss(row["run_dir"])
