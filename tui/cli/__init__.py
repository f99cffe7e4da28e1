"""``rnn-tui``: the dashboard, plus ``train``, ``attach``, ``logs``, ``control``, ``sweep``, ``runs``,
``compare``, ``serve``, ``generate``, ``presets``, ``corpora`` and ``bench``.

Importing this module loads neither torch nor Textual: ``rnn-tui --help`` answers at once, and
each command imports what it needs when it runs.
"""
from __future__ import annotations

import os
import sys

import click
from click.core import ParameterSource

from rnn_tui.corpora import CorpusError
from rnn_tui.engine.control import COMMANDS
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.summary import SORT_KEYS

from rnn_tui.tui.cli.stdout import guard_stdout, output_failure
from rnn_tui.tui.cli.options import Duration, config_from_options, kernels_option, train_options, train_params

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _given_by_user(ctx: click.Context) -> dict:
    """The options typed on the command line or set by their environment variable (not defaults)."""
    return {name: value for name, value in ctx.params.items()
            if ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)}


@click.group(invoke_without_command=True, context_settings=CONTEXT)
@train_options
@click.option("--start", is_flag=True, help="Begin training as soon as the dashboard opens.")
@click.option("--ascii", "ascii_only", is_flag=True, help="Draw with ASCII only (automatic in a non-UTF-8 locale).")
@click.option("--attach-live", is_flag=True, hidden=True,
              help="Open on the newest live run, if one trains (each tab of `rnn-tui serve`).")
@click.version_option(package_name="rnn-tui", prog_name="rnn-tui")
@click.pass_context
def cli(ctx: click.Context, start: bool, ascii_only: bool, attach_live: bool, **options) -> None:
    """Train character-level RNN language models (d2l chapter 8) from a terminal dashboard.

    With no command, opens the dashboard; every `train` option pre-fills its form.
    """
    if ctx.invoked_subcommand is not None:
        return
    from rnn_tui.tui.app import run_dashboard
    live = None
    if attach_live:
        from rnn_tui.engine.watch import latest_live_run
        live = latest_live_run()
    config = config_from_options(options, set(_given_by_user(ctx)))
    ctx.exit(run_dashboard(None if live else config, start=start and not live, ascii_only=ascii_only,
                           resume=options.get("resume"), attach=str(live.path) if live else None))


@cli.command(context_settings=CONTEXT)
@train_options
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line on stdout.")
@click.option("--detach", is_flag=True,
              help="Train in the background, in a session of its own: print the run folder and return.")
@click.option("--ready-fd", type=int, default=None, hidden=True,
              help="A detached run tells its launcher on this pipe that it trains (engine/launch.py).")
@click.pass_context
def train(ctx: click.Context, as_json: bool, detach: bool, ready_fd: int | None, **options) -> None:
    """Train headless: a line per epoch, then d2l's `perplexity P, S tokens/sec on DEVICE`."""
    from rnn_tui.tui.cli.headless import run_detached, run_train
    given = {name: value for name, value in _given_by_user(ctx).items() if name in options}
    config = config_from_options(options, set(given))
    if detach:
        ctx.exit(run_detached(config, as_json, given))
    ctx.exit(run_train(config, as_json, options.get("resume"), given, ready_fd))


def run_folder(run: str | None) -> str:
    """The run folder RUN names: a path, or a run's name under the runs root or in the index of this
    user's runs; without RUN, the newest live run. InputError, one line, when there is none."""
    from rnn_tui.tui.cli.errors import InputError
    from rnn_tui.engine.run_index import index_dir, resolve_run
    from rnn_tui.engine.runs import runs_root
    from rnn_tui.engine.watch import latest_live_run
    if run is None:
        live = latest_live_run()
        if live is None:
            raise InputError(f"no live run under {runs_root()} or in {index_dir()}: name a run folder")
        return str(live.path)
    found = resolve_run(run)
    if found is None:
        raise InputError(f"{run} is not a run folder (it has no config.json or status.json), nor the name of "
                         f"one under {runs_root()} or in {index_dir()}")
    return str(found)


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path())
@click.option("--ascii", "ascii_only", is_flag=True, help="Draw with ASCII only.")
@click.pass_context
def attach(ctx: click.Context, run: str | None, ascii_only: bool) -> None:
    """Open the dashboard on RUN (a run folder, or a run's name): live, finished or gone.

    Without RUN: the newest live run, wherever it was started."""
    path = run_folder(run)
    from rnn_tui.tui.app import run_dashboard
    ctx.exit(run_dashboard(None, ascii_only=ascii_only, attach=path))


@cli.command(context_settings=CONTEXT)
@click.argument("run", required=False, type=click.Path())
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they come, until the run ends.")
@click.option("--json", "as_json", is_flag=True, help="One JSON event per line, as train --json prints them.")
def logs(run: str | None, follow: bool, as_json: bool) -> None:
    """Print RUN's events as `rnn-tui train` shows them (a run folder, or a run's name; default: the newest live run).

    With -f it follows the run until it ends and exits as the run did: 0, 1 (diverged, failed, gone), 128 + a signal."""
    from rnn_tui.tui.cli.headless import run_logs
    sys.exit(run_logs(run_folder(run), follow, as_json))


@cli.command(context_settings=CONTEXT)
@click.argument("run", type=click.Path())
@click.argument("command", type=click.Choice(COMMANDS))
@click.option("--prefix", default=None, help="sample: the prompt. [default: the run's]")
@click.option("--length", type=int, default=None, help="sample: tokens to generate. [default: the run's]")
@click.option("--temperature", type=float, default=None, help="sample: 0 = greedy. [default: the run's]")
@click.option("--top-k", type=int, default=None, help="sample: 0 = all tokens. [default: the run's]")
@click.option("--timeout", "timeout_s", type=float, default=120, show_default=True,
              help="Seconds to wait for the run to act.")
def control(run: str, command: str, timeout_s: float, **sample_options) -> None:
    """Steer the live run RUN (a run folder, or a run's name): pause, resume, stop, save, sample, or prune (a sweep's stop).

    Waits until the run has acted (stop: until its process has ended; sample: prints the text); exit 2 if
    RUN is not live."""
    from rnn_tui.tui.cli.headless import run_control
    sys.exit(run_control(run_folder(run), command, sample_options, timeout_s))


class PassesTrainingOptions(click.Command):
    """``--help`` of a command that takes every training option: its own options, then one line for those."""
    training_note = ""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        training = {option.name for option in train_params()}
        rows = [param.get_help_record(ctx) for param in self.get_params(ctx)
                if isinstance(param, click.Option) and param.name not in training]
        with formatter.section("Options"):
            formatter.write_dl([row for row in rows if row])
        with formatter.section("Training options"):
            formatter.write_text(f"Every option of `rnn-tui train` (see rnn-tui train --help), e.g. --corpus "
                                 f"markov --hidden 64: {self.training_note}")


class ServeCommand(PassesTrainingOptions):
    training_note = "each tab's form starts from them."


class SweepCommand(PassesTrainingOptions):
    training_note = "every trial trains with them, and the values --param picks."


@cli.command(cls=ServeCommand, context_settings=CONTEXT)
@train_options
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--allow-remote", is_flag=True,
              help="Listen on an address other hosts can reach (anyone who reaches it controls training).")
@click.option("--public-url", default=None, metavar="URL",
              help="The address browsers use, behind a reverse proxy that rewrites it. [default: the one each "
                   "browser asked for, so any ssh -L port works]")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, allow_remote: bool, public_url: str | None, **options) -> None:
    """The dashboard in a browser tab (textual-serve), for a laptop tunnelled to this box.

    Each tab is a dashboard: it follows the run that trains, if one does; closing it detaches."""
    from rnn_tui.tui.cli.serve import run_serve
    given = {name: value for name, value in _given_by_user(ctx).items() if name in options}
    config = config_from_options(options, set(given))
    sys.exit(run_serve(host, port, allow_remote, given, config, public_url and public_url.rstrip("/")))


@cli.command(cls=SweepCommand, context_settings=CONTEXT)
@click.argument("name")
@train_options
@click.option("--param", "params", multiple=True, metavar="NAME=KIND:ARGS",
              help="An option to search: lr=loguniform:1e-4:1e-2, dropout=uniform:0:0.5, hidden=choice:256,512, "
                   "layers=int:1:3 (intlog: on a log scale). Repeat for each.")
@click.option("--space", "space_file", type=click.Path(), default=None,
              help="The parameters from a TOML file's [params] table (lr = \"loguniform:1e-4:1e-2\").")
@click.option("--trials", type=click.IntRange(1, 100_000), default=None,
              help="Trials the study is to hold, complete or pruned; failed ones are run again. [default: 20]")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Trials at a time on this box, the CPU's threads shared out between them.")
@click.option("--max-time-per-trial", type=Duration(), default=None, metavar="DURATION",
              help="Each trial's --max-time, e.g. 5m.")
@click.option("--prune", default="median", show_default=True, metavar="median|hyperband|none|threshold:X",
              help="Optuna's pruner, judging each epoch's validation loss (threshold: above X nats).")
@click.option("--storage", "storage_url", default=None, metavar="URL",
              help="An Optuna RDB URL (postgresql://…, mysql://…) that workers on several machines share. "
                   "[default: a journal file in the sweep's folder, for this box]")
@click.option("--join", is_flag=True, help="Add workers to an existing sweep: its parameters and options come "
                                          "from its study.")
@click.option("--show", is_flag=True, help="Instead: the trials, the best one and each parameter's importance.")
@click.option("--json", "as_json", is_flag=True, help="With --show: the report as one JSON object.")
@click.pass_context
def sweep(ctx: click.Context, name: str, params: tuple[str, ...], space_file: str | None, trials: int | None,
          jobs: int, max_time_per_trial: float | None, prune: str, storage_url: str | None, join: bool, show: bool,
          as_json: bool, **options) -> None:
    """Search training options on Optuna: NAME's trials, each an ordinary run in RUNS_ROOT/NAME/.

    The objective is the best validation loss (the training loss without a validation split). Run the
    same command again to go on after an interruption."""
    from rnn_tui.tui.cli.sweep import run_sweep, show_sweep
    if show:
        sys.exit(show_sweep(name, storage_url, as_json))
    given = {key: value for key, value in _given_by_user(ctx).items() if key in options}
    sys.exit(run_sweep(name, options, given, params, space_file, trials, jobs, max_time_per_trial, prune,
                       storage_url, join))


@cli.command(context_settings=CONTEXT)
@click.option("--root", type=click.Path(), default=None,
              help="List only the runs under this folder. [default: $RNN_TUI_RUNS, else ./runs, and your runs elsewhere]")
@click.option("--sort", type=click.Choice(list(SORT_KEYS)), default="started", show_default=True,
              help="started, epochs, speed and size: largest first; the others (val, train: best) smallest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run, one a line.")
@click.option("--wide", is_flag=True, help="Every column (windows val, hidden, corpus, train, tokens/s, device, "
                                          "started, size), not the 80 columns of the default.")
def runs(root: str | None, sort: str, as_json: bool, wide: bool) -> None:
    """Every run: under the runs root, and wherever else you started one. Status, best validation, epochs…"""
    from rnn_tui.tui.cli.runs import run_runs
    sys.exit(run_runs(root, sort, as_json, wide))


@cli.command(context_settings=CONTEXT)
@click.argument("runs", nargs=-1, type=click.Path())
@click.option("--plot", is_flag=True, help="Also draw their curves, overlaid, in the terminal.")
@click.option("--metric", type=click.Choice(["val", "train"]), default="val", show_default=True,
              help="With --plot: which perplexity.")
@click.option("--x", "x_axis", type=click.Choice(["epoch", "time", "tokens"]), default="epoch", show_default=True,
              help="With --plot: against epochs, seconds, or tokens seen.")
@click.option("--json", "as_json", is_flag=True, help="The comparison as one JSON object.")
def compare(runs: tuple[str, ...], plot: bool, metric: str, x_axis: str, as_json: bool) -> None:
    """RUNS side by side: the options that differ, final and best perplexities, speed."""
    from rnn_tui.tui.cli.errors import InputError
    from rnn_tui.tui.cli.runs import run_compare
    if len(runs) < 2:
        raise InputError("compare needs two runs or more")
    sys.exit(run_compare(tuple(run_folder(run) for run in runs), plot, metric, x_axis, as_json))


@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@click.option("--prefix", default=None, help="Prompt. [default: the run's prefix]")
@click.option("--length", type=int, default=200, show_default=True, help="Tokens to generate.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-k", type=int, default=0, show_default=True, help="0 = all tokens.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="auto|cpu|cuda|cuda:N|mps")
@click.option("--checkpoint", "which", type=click.Choice(["best", "latest"]), default="best", show_default=True,
              help="In a run folder: best.pt (lowest validation loss) or checkpoint.pt (the last epoch).")
@kernels_option
def generate(checkpoint: str, prefix, length, temperature, top_k, seed, device, which, kernels) -> None:
    """Stream text from CHECKPOINT: a checkpoint file, or a run (its folder or name: its best, else its latest)."""
    from rnn_tui.tui.cli.headless import run_generate
    from rnn_tui.engine.run_index import resolve_run
    if not os.path.isfile(checkpoint):
        checkpoint = str(resolve_run(checkpoint) or checkpoint)  # not found: generate says so, naming it
    sys.exit(run_generate(checkpoint, prefix, length, temperature, top_k, seed, device, kernels, which))


@cli.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Every preset's options as one JSON object.")
def presets(as_json: bool) -> None:
    """List the recipes --preset takes: what each is for and the options it sets."""
    from rnn_tui.tui.cli.listings import presets_listing
    click.echo(presets_listing(as_json))


@cli.command(context_settings=CONTEXT)
def corpora() -> None:
    """List the named corpora."""
    from rnn_tui.tui.cli.listings import corpora_table
    click.echo(corpora_table())


@cli.command(context_settings=CONTEXT)
@click.option("--quick", is_flag=True, help="Fewer, shorter repetitions (a smoke test, not figures).")
@click.option("--repeats", type=int, default=3, show_default=True, help="Alternating runs per path.")
@click.option("--device", default="auto", show_default=True, help="auto|cpu|cuda|cuda:N|mps")
@kernels_option
@click.option("--json", "as_json", is_flag=True, help="The results as one JSON object.")
@click.option("--dashboard", is_flag=True,
              help="Instead: the dashboard's training speed against headless, and key-to-screen latency (tmux).")
def bench(quick: bool, repeats: int, device: str, kernels: str, as_json: bool, dashboard: bool) -> None:
    """Tokens/s of the textbook and fast paths, generation speed, a matmul roofline, peak memory."""
    from rnn_tui.tui.cli.bench import run_bench, run_dashboard_bench
    if dashboard:
        sys.exit(run_dashboard_bench(quick=quick, repeats=repeats, as_json=as_json))
    sys.exit(run_bench(quick=quick, repeats=repeats, device=device, kernels=kernels, as_json=as_json))


def main() -> None:
    """Console entry point: any usage or input error is one line on stderr and exit status 2; output that
    could not be written (tui/cli/stdout.py) costs nothing computed, and exit status 1."""
    guard_stdout()
    try:
        code = cli.main(prog_name="rnn-tui", standalone_mode=False)
    except SystemExit as exc:  # a command's own exit status
        code = exc.code
    except click.exceptions.Abort:
        click.echo("rnn-tui: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"rnn-tui: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except (InputProblem, CorpusError) as exc:  # raised where it was found, in whatever command
        click.echo(f"rnn-tui: error: {exc}", err=True)
        sys.exit(2)
    code = code if isinstance(code, int) else 0
    failure = output_failure()
    if failure:
        click.echo(f"rnn-tui: error: {failure}", err=True)
        code = code or 1
    sys.exit(code)

