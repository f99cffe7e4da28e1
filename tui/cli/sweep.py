"""``rnn-tui sweep``: run a study's trials and say how each ended, or show the study (``--show``)."""
from __future__ import annotations

import json

import click

from rnn_tui.engine.errors import InputProblem
from rnn_tui.tui.formatting import NA, format_number, format_seconds, format_value, text_table

DEFAULT_TRIALS = 20


def _values(params: dict) -> str:
    return " ".join(f"{name}={format_value(value)}" for name, value in params.items())


def _objective(value) -> str:
    return NA if value is None else f"{format_number(value, '.4f')} nats"


def run_sweep(name: str, options: dict, given: dict, params: tuple[str, ...], space_file: str | None,
              trials: int | None, jobs: int, max_time_per_trial: float | None, prune: str, storage_url: str | None,
              join: bool) -> int:
    """Check everything (one line and exit 2 for bad input, before any trial), then run trials until the
    study holds its count; 130 if interrupted (a rerun goes on from there)."""
    from rnn_tui.engine.sweep import JOURNAL_FILE, SweepPlan, check_pruner, open_storage, open_study, sweep_folder
    from rnn_tui.engine.sweep_worker import SweepWorker
    from rnn_tui.engine.sweep_space import check_space, parse_param, space_from_toml
    from rnn_tui.tui.cli.options import config_from_options
    folder = sweep_folder(name)
    for option, why in (("resume", "every trial is a new run"), ("run_dir", f"the trials go in {folder}")):
        if option in given:
            raise InputProblem(f"--{option.replace('_', '-')} is not for a sweep: {why}")
    plan = None
    if params or space_file:
        if join:
            raise InputProblem("--join takes the sweep's parameters from its study: leave out --param and --space")
        check_pruner(prune)
        space = [parse_param(text) for text in params] + (space_from_toml(space_file) if space_file else [])
        base = config_from_options(options, set(given))
        problem = base.first_error_before_corpus()
        if problem:
            raise InputProblem(problem)
        check_space(space, base)
        searched = {param.name for param in space}
        plan = SweepPlan(space, {k: v for k, v in given.items() if k not in searched},
                         trials or DEFAULT_TRIALS, prune, max_time_per_trial or 0.0)
    elif given:
        raise InputProblem(f"--{next(iter(given)).replace('_', '-')}: a sweep's training options are set when it "
                           f"starts, with its --param or --space")
    if storage_url is None and not (folder / JOURNAL_FILE).is_file() and plan is None:
        raise InputProblem(f"no sweep {name} in {folder.parent} yet: give the parameters to search (--param or --space)")
    storage = open_storage(storage_url, folder)
    study, plan = open_study(name, storage, plan, join)
    if trials is not None and plan.trials != trials and not params and not space_file:
        study.set_user_attr("trials", trials)
        plan.trials = trials
    click.echo(f"sweep {name}: {plan.trials} trials of {' '.join(p.spec for p in plan.space)}, {jobs} at a time; "
               f"their runs in {folder}")

    def started(number: int, params: dict, run_dir: str) -> None:
        click.echo(f"trial {number} trains: {_values(params)}  {run_dir}")

    def ended(outcome) -> None:
        click.echo(f"trial {outcome.number} {_ending(outcome)}: {_objective(outcome.value)}")
    worker = SweepWorker(name, study, storage, plan, folder, jobs=jobs, on_start=started, on_outcome=ended)
    try:
        worker.run()
    except KeyboardInterrupt:
        click.echo(f"interrupted: run the same command again to go on with sweep {name}", err=True)
        return 130
    _echo_best(study)
    return 0


def _ending(outcome) -> str:
    """``complete after 3 epochs (7s)``, ``pruned after epoch 1``, ``failed: why``."""
    epochs = f"{outcome.epochs} epoch{'s' if outcome.epochs != 1 else ''}"
    if outcome.state == "pruned":
        return f"pruned after {epochs} ({format_seconds(outcome.elapsed_s)})"
    if outcome.state == "fail":
        return f"failed ({outcome.status or outcome.reason or 'no word from it'})"
    ended = "" if outcome.status == "completed" else f", {outcome.status}"
    return f"complete after {epochs}{ended} ({format_seconds(outcome.elapsed_s)})"


def _echo_best(study) -> None:
    from rnn_tui.engine.sweep import sweep_report
    best = sweep_report(study)["best"]
    if best is None:
        click.echo("no trial has completed yet")
        return
    click.echo(f"best: trial {best['trial']}, {_objective(best['value'])}, {_values(best['params'])}: {best['run_dir']}")


def show_sweep(name: str, storage_url: str | None, as_json: bool) -> int:
    """The trials table, the best trial and each parameter's importance."""
    from rnn_tui.engine.sweep import JOURNAL_FILE, open_storage, open_study, sweep_folder, sweep_report
    folder = sweep_folder(name)
    if storage_url is None and not (folder / JOURNAL_FILE).is_file():
        raise InputProblem(f"no sweep {name} in {folder.parent} (a sweep on a database: give its --storage URL)")
    study, _ = open_study(name, open_storage(storage_url, folder), None, join=True)
    report = sweep_report(study)
    if as_json:
        click.echo(json.dumps(report, default=str, allow_nan=False))
        return 0
    names = list(dict.fromkeys(p for row in report["trials"] for p in row["params"]))
    header = ["trial", "state", *names, "best (nats)", "epochs", "time", "run"]
    rows = [[str(row["trial"]), row["state"],
             *(format_value(row["params"].get(p)) for p in names),
             format_number(row["value"], ".4f"), NA if row["epochs"] is None else str(row["epochs"]),
             format_seconds(row["time_s"]), (row["run_dir"] or NA).rsplit("/", 1)[-1]] for row in report["trials"]]
    click.echo(text_table(header, rows, right={0, *range(2, 2 + len(names) + 3)}))
    counted = sum(row["state"] in ("complete", "pruned") for row in report["trials"])
    click.echo(f"\n{counted} of {report['target']} trials done (complete or pruned)")
    _echo_best(study)
    if report["importances"]:
        click.echo("importance: " + ", ".join(f"{p} {v:.2f}" for p, v in report["importances"].items()))
    else:
        click.echo(f"importance: {NA} (two completed trials at least)")
    return 0

