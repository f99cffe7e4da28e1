"""``rnn-tui train``, ``generate`` and ``control``: the engine driven from a terminal or a script."""
from __future__ import annotations

import json
import math
import os
import shlex
import signal
import sys
import time

import click

from rnn_tui.engine import events as ev
from rnn_tui.engine.config import RESUME_OVERRIDES, TrainConfig, has_surrogates
from rnn_tui.engine.launch import SWEEP_TRIAL_ENV
from rnn_tui.engine.phases import Outcome, Phase, RunState
from rnn_tui.tui.event_text import (best_text, checkpoint_text, diverged_text, ended_text, epoch_text,
                                    write_failed_text)
from rnn_tui.tui.formatting import format_checkpoint, format_seconds
from rnn_tui.tui.cli.errors import InputError


class Output:
    """Prints events as text lines or JSON; a vanished or failing stdout (tui/cli/stdout.py) is not the run's end."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.alive = True  # stdout still takes what is written
        self.progress_on_tty = not as_json and sys.stderr is not None and sys.stderr.isatty()
        self.show_lr = False  # only when a schedule or warmup moves it

    def write(self, text: str, err: bool = False) -> None:
        stream = sys.stderr if err else sys.stdout
        if stream is None or not (self.alive or err):
            return
        try:
            stream.write(text)
            stream.flush()
        except OSError:
            pass  # stderr gone as well: nobody to tell
        if not err and getattr(stream, "failed", None) is not None:
            self.alive = False  # the run itself goes on and is checkpointed

    def event(self, event: ev.Event) -> None:
        if self.as_json:
            self.write(json.dumps(event.to_dict(), ensure_ascii=False, allow_nan=False) + "\n")
        else:
            self.show(event)

    def show(self, event: ev.Event) -> None:
        """One event as lines for a person (progress only on a terminal, and on stderr)."""
        match event:
            case ev.Start(corpus=corpus):
                resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
                self.write(f"run folder: {event.run_dir}\n"
                           f"training {event.config['model']} ({event.num_parameters:,} parameters) on "
                           f"{event.device}{resumed}\ncorpus: {corpus.get('name')}, vocab {event.vocab_size}, "
                           f"{corpus.get('train_tokens', 0):,} training / {corpus.get('val_tokens', 0):,} validation "
                           f"tokens, {event.batches_per_epoch} minibatches per epoch\n")
                if event.floor_perplexity:
                    self.write(f"best achievable perplexity (floor): {event.floor_perplexity:.3f}\n")
                self.show_lr = TrainConfig.from_dict(event.config).lr_moves()
            case ev.Progress() if self.progress_on_tty:
                self.write(f"\repoch {event.epoch}: {event.batch}/{event.batches} minibatches, perplexity "
                           f"{event.train_perplexity:.2f}, {event.tokens_per_sec:,.0f} tokens/sec, "
                           f"eta {format_seconds(event.eta_s)} ", err=True)
            case ev.Epoch():
                if self.progress_on_tty:
                    self.write("\r\033[K", err=True)
                lr = f", lr {event.lr:.3g}" if self.show_lr and event.lr is not None else ""
                self.write(f"{epoch_text(event, event.epochs)}, {event.tokens_per_sec:,.0f} tokens/sec, "
                           f"grad norm {event.grad_norm:.3f}{lr}, eta {format_seconds(event.eta_s)}\n")
            case ev.Sample(text=text):
                self.write(f"  {text!r}\n" if "\n" in text else f"  {text}\n")
            case ev.Checkpoint(ok=False):
                self.write(f"warning: {checkpoint_text(event)} (not written: the previous one is intact and "
                           f"training goes on)\n", err=True)
            case ev.WriteFailed():
                self.write(f"warning: {write_failed_text(event)}\n", err=True)
            case ev.Diverged():
                self.write(diverged_text(event) + "\n", err=True)
            case ev.Finished():
                ended = ended_text(event)
                if ended:
                    self.write(ended + "\n")
                if event.train_perplexity is not None:
                    # d2l's closing line, then its closing predictions.
                    self.write(f"perplexity {event.train_perplexity:.1f}, {event.tokens_per_sec:.1f} "
                               f"tokens/sec on {event.device}\n")
                    for sample in event.samples:
                        self.write(sample["text"] + "\n")
                if event.checkpoint:
                    self.write(f"checkpoint: {event.checkpoint}\n")
                if event.best_checkpoint:
                    self.write(best_text(event) + "\n")


def _install_signal_handlers(control, second_ends: bool | None = None) -> None:
    """A signal stops the run at the next minibatch; a second one ends the process at once, unless
    ``second_ends`` is False: a torchrun rank (dead mid-collective, it would leave the others waiting
    in it; torchrun kills a rank that does not end). None: True, but for a sweep's trial (its worker's
    death signals it once per thread of the worker: a repeat is no one's second request)."""
    if second_ends is None:
        second_ends = SWEEP_TRIAL_ENV not in os.environ
    def handler(signum, _frame):
        name = signal.Signals(signum).name
        control.request_stop(name)
        if second_ends:
            signal.signal(signum, signal.SIG_DFL)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def run_train(config: TrainConfig, as_json: bool, resume: str | None, given: dict, ready_fd: int | None = None) -> int:
    """``given``: the options the user set (a resumed run takes some of them over its checkpoint's).
    ``ready_fd``: a detached run's pipe to its launcher (engine/launch.py)."""
    from rnn_tui.engine.launch import Readiness
    out = Output(as_json)
    ready = Readiness(ready_fd)
    try:
        return _run_train(config, out, resume, given, ready)
    except click.ClickException as exc:
        ready.tell(exc.format_message())
        if as_json:
            out.event(ev.Error(message=exc.format_message(), kind="input"))
        raise
    finally:
        ready.close()


def _run_train(config: TrainConfig, out: Output, resume: str | None, given: dict, ready) -> int:
    problem = config.first_error_before_corpus()
    if problem:
        raise InputError(problem)
    # torch loads only here, after the options have been checked.
    from rnn_tui.engine.control import TrainControl
    from rnn_tui.engine.distributed import launched_by_torchrun
    from rnn_tui.engine.session import prepare_run
    from rnn_tui.engine.trainer import TrainingInputError

    if launched_by_torchrun():
        return _run_rank(config, out, resume, given)
    control = TrainControl()
    try:
        prepared = prepare_run(config, resume, given)
        if prepared.ignored:
            out.write(f"warning: a resumed run keeps its own {', '.join('--' + k.replace('_', '-') for k in prepared.ignored)}"
                      f" (it may change {', '.join('--' + k.replace('_', '-') for k in RESUME_OVERRIDES)})\n", err=True)
        if prepared.config.nproc > 1:  # checked here, trained by the ranks torchrun starts
            return _launch_ranks(prepared, out.as_json, given, ready)
        _install_signal_handlers(control)
        return _train_here(prepared, control, out, ready)[0]
    except TrainingInputError as exc:
        raise InputError(str(exc)) from None


def _train_here(prepared, control, out: Output, ready, world=None) -> tuple[int, bool]:
    """The run in this process, recorded in its folder and shown: (exit status, whether it got to its end).
    Under torchrun: rank 0."""
    import torch

    from rnn_tui.engine.live import LiveRun
    finished = None
    with LiveRun(prepared.run, control) as live:
        try:
            for event in prepared.events(control, world):
                live.record(event)
                out.event(event)
                if isinstance(event, ev.Start):
                    ready.tell("ok")
                elif isinstance(event, ev.Finished):
                    finished = event
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            if not isinstance(exc, torch.OutOfMemoryError) and "allocate" not in str(exc):
                raise  # a bug: its traceback is what will get it fixed
            cfg = prepared.config
            error = ev.Error(kind="oom", message=(
                f"out of memory on {cfg.device}: reduce --batch-size ({cfg.batch_size}), --hidden ({cfg.hidden}) "
                f"or --num-steps ({cfg.num_steps}); completed epochs are in {prepared.run.path}"))
            live.record(error)
            if out.as_json:
                out.event(error)
            out.write(f"error: {error.message}\n", err=True)
            return 1, False
    if not out.alive and not getattr(sys.stdout, "reader_left", True):
        out.write(f"rnn-tui: the run is recorded whole in {prepared.run.path}\n", err=True)
    return _exit_status(finished, out, prepared.run.path), True


def _launch_ranks(prepared, as_json: bool, given: dict, ready) -> int:
    """``--nproc N``: checked here, trained by the ranks torchrun starts; ``ready`` is told once rank 0 trains."""
    import threading

    from rnn_tui.engine.distributed import run_torchrun
    from rnn_tui.engine.launch import option_arguments
    from rnn_tui.engine.watch import run_info
    new_folder = None if given.get("resume") else str(prepared.run.path)  # every rank writes to one folder
    arguments = option_arguments({**given, "nproc": prepared.config.nproc, "run_dir": new_folder})
    ended = threading.Event()

    def tell_once_rank_0_trains() -> None:
        while not ended.wait(0.1):
            info = run_info(prepared.run.path)
            if info.state == RunState.LIVE and info.status.get("state") != Phase.STARTING or info.state == RunState.FINISHED:
                ready.tell("ok")
                return
        ready.tell(f"its processes ended before training: see {prepared.run.log_path}")
    watcher = threading.Thread(target=tell_once_rank_0_trains, daemon=True)
    watcher.start()
    try:
        return run_torchrun(prepared.config.nproc, arguments + (["--json"] if as_json else []))
    finally:
        ended.set()
        watcher.join()


def _exit_status(finished: ev.Finished, out: Output | None, run_path) -> int:
    """0, 1 when diverged, 128 + the signal when interrupted (said on stderr, with how to resume)."""
    if finished.status == Outcome.INTERRUPTED and out is not None:
        where = f"checkpoint: {finished.checkpoint}" if finished.checkpoint else "no epoch had completed"
        out.write(f"interrupted by {finished.reason} after epoch {finished.epoch}; {where}; "
                  f"resume with: rnn-tui train --resume {run_path}\n", err=True)
    if finished.status == Outcome.INTERRUPTED:
        return 128 + int(getattr(signal, finished.reason or "", signal.SIGTERM))
    return 1 if finished.status in (Outcome.DIVERGED, Outcome.UNWRITABLE) else 0


def _run_rank(config: TrainConfig, out: Output, resume: str | None, given: dict) -> int:
    """One rank of a torchrun launch: rank 0 is the run as one process would be; the others train quietly."""
    from torch.distributed import DistError

    from rnn_tui.engine.control import TrainControl
    from rnn_tui.engine.device import resolve_device
    from rnn_tui.engine.distributed import join_world, leave_world
    from rnn_tui.engine.launch import Readiness
    from rnn_tui.engine.session import prepare_run
    from rnn_tui.engine.trainer import TrainingInputError

    control = TrainControl()
    ended = False  # every rank got to its end: they leave the group together
    try:
        world = join_world(resolve_device(config.device).type)
        prepared = prepare_run(config, resume, given, claim_folder=world.main)  # rank 0 owns the folder
        prepared.config.nproc = world.size  # the record says how it trained, however it was launched
        _install_signal_handlers(control, second_ends=False)
        if world.main:
            code, ended = _train_here(prepared, control, out, Readiness(None), world)
        else:
            last = [e for e in prepared.events(control, world) if isinstance(e, ev.Finished)][-1]
            code, ended = _exit_status(last, None, prepared.run.path), True
        return code
    except (TrainingInputError, ValueError) as exc:
        raise InputError(str(exc)) from None
    except DistError as exc:  # a rank died or the network between them failed: the run cannot go on
        out.write(f"error: another process of this run failed ({str(exc).splitlines()[0][:160]}); the checkpoint "
                  f"of the last completed epoch is kept for --resume\n", err=True)
        return 1
    finally:
        leave_world(finished=ended)


def run_detached(config: TrainConfig, as_json: bool, given: dict) -> int:
    """``rnn-tui train --detach``: start the run in a session of its own, say where it is, return."""
    from rnn_tui.engine.launch import LaunchError, launch_training

    problem = config.first_error_before_corpus()
    if problem:
        raise InputError(problem)
    try:
        started = launch_training(given, config.model)
    except LaunchError as exc:
        if exc.input_error:
            raise InputError(str(exc)) from None
        click.echo(f"rnn-tui: error: {exc}", err=True)
        return 1
    path = shlex.quote(str(started.path))
    if as_json:
        click.echo(json.dumps({"run_dir": str(started.path), "pid": started.pid}))
    else:
        click.echo(f"training in {started.path} (pid {started.pid}); it goes on when this terminal closes\n"
                   f"  watch and steer it:  rnn-tui attach {path}\n"
                   f"  from a script:       rnn-tui control {path} pause|resume|stop|save|sample\n"
                   f"  its errors, if any:  {started.path / 'train.log'}")
    return 0


LOGS_POLL_S = 0.25


def run_logs(run, follow: bool, as_json: bool) -> int:
    """``rnn-tui logs RUN [-f]``: the run's events as ``train`` prints them; following, until it ends.

    Exits as the run's own process did (0, 1, 128 + a signal); 1 for a run that is gone."""
    from rnn_tui.engine.watch import RunWatch
    out = Output(as_json)
    watch = RunWatch(run)
    last = None
    while True:
        info = watch.info()  # before the events: an end told here has its events read below
        for event in watch.poll():
            if isinstance(event, ev.Progress) and not (follow and info.state == RunState.LIVE):
                continue  # a live figure is news only while following
            out.event(event)
            if isinstance(event, (ev.Finished, ev.Error)):
                last = event
            elif isinstance(event, ev.Start):
                last = None  # resumed: what ended before goes on
        if not out.alive:
            return 0
        if not follow or info.state != RunState.LIVE:
            break
        time.sleep(LOGS_POLL_S)
    if info.state == RunState.LIVE:
        return 0
    if info.state == RunState.GONE:
        out.write(f"gone: its process ended without finishing (killed, or the machine restarted); "
                  f"resume with: rnn-tui train --resume {shlex.quote(str(info.path))}\n", err=True)
        return 1
    return _exit_status(last, None, info.path) if isinstance(last, ev.Finished) else 1


def run_control(run: str, command: str, options: dict, timeout_s: float) -> int:
    """``rnn-tui control RUN COMMAND``: send it, then wait for what it does to show in the run's events."""
    from rnn_tui.engine.control_socket import RunNotLive, send_command
    from rnn_tui.engine.watch import RunWatch, process_alive

    sample_options = {name: value for name, value in options.items() if value is not None}
    if sample_options and command != "sample":
        raise InputError(f"--{next(iter(sample_options)).replace('_', '-')} goes with sample only")
    if has_surrogates(sample_options.get("prefix", "")):
        raise InputError("--prefix holds bytes that are not UTF-8 text")
    watch = RunWatch(run, from_end=True)
    try:
        reply = send_command(run, command, **sample_options)
    except RunNotLive as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"cannot reach the run in {run}: {exc.strerror or exc}") from None
    if not reply.get("ok"):
        raise InputError(f"the run refused {command}: {reply.get('error')}")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = watch.info()  # before the events: an end told here has its events read below
        for event in watch.poll():
            match (command, event):
                case ("sample", ev.Sample(on_demand=True)):
                    click.echo(event.text)
                    return 0
                case ("save", ev.Checkpoint()):
                    click.echo(checkpoint_text(event))
                    return 0 if event.ok else 1
                case ("stop" | "prune", ev.Finished()):
                    while process_alive(watch.info().status) and time.monotonic() < deadline:
                        time.sleep(0.1)  # the folder is free for --resume once this returns
                    click.echo(f"{event.status} after {format_checkpoint(event.epoch, event.batch)}; "
                               f"checkpoint: {event.checkpoint}")
                    return 0
        state = info.status.get("state")
        if command in ("pause", "resume") and state == (Phase.PAUSED if command == "pause" else Phase.TRAINING):
            click.echo(f"{state}: {info.status.get('epoch')} of {info.status.get('epochs')} epochs done")
            return 0
        if info.state != RunState.LIVE:
            click.echo(f"rnn-tui: error: the run ended ({info.outcome or info.state}) before {command} showed",
                       err=True)
            return 1
        time.sleep(0.1)
    click.echo(f"rnn-tui: error: {command} was taken but did not show within {timeout_s:g} s", err=True)
    return 1


def run_generate(path: str, prefix: str | None, length: int, temperature: float, top_k: int, seed: int,
                 device: str, kernels: str = "auto", which: str = "best") -> int:
    if not (1 <= length <= 1_000_000 and math.isfinite(temperature) and temperature >= 0 and top_k >= 0
            and 0 <= seed < 2**32):
        raise InputError("--length must be 1 to 1,000,000, --temperature a number ≥ 0, --top-k ≥ 0 "
                         "and --seed 0 to 4,294,967,295")
    from rnn_tui.engine.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
    from rnn_tui.engine.device import resolve_device
    from rnn_tui.engine.generation import generate_text
    from rnn_tui.engine.kernels import problem as kernels_problem

    try:
        target = resolve_device(device)
        problem = kernels_problem(kernels, target)
        if problem:
            raise InputError(problem)
        state = load_checkpoint(path, which=which)
        if state["epoch"] == 0:
            click.echo("warning: this checkpoint was written before any epoch had trained: its text is random",
                       err=True)
        model, vocab, config = model_from_checkpoint(state, target, kernels)
        pieces = generate_text(model, vocab, prefix or config.prefix, length, preprocess=config.preprocess or "raw",
                               tokens=config.tokens, temperature=temperature, top_k=top_k, seed=seed, device=target)
        out = Output(as_json=False)
        for piece in pieces:
            out.write(piece)
            if not out.alive:  # the reader went away (`| head`), or stdout failed: stop generating for nobody
                return 0
        out.write("\n")
    except (CheckpointError, ValueError) as exc:
        raise InputError(str(exc)) from None
    return 0
