"""``rnn-tui train`` and ``rnn-tui generate``: the engine driven from a terminal or a script."""
from __future__ import annotations

import json
import math
import signal
import sys
import threading
from pathlib import Path

import click

from corpora import CorpusError, LoadedCorpus, load_corpus, load_file_corpus
from engine.config import TrainConfig
from engine.events import Error


class InputError(click.ClickException):
    """Bad input: one line on stderr, exit status 2."""
    exit_code = 2


DEFAULT_PREFIX = "time traveller"


def load_corpus_for(config: TrainConfig) -> LoadedCorpus:
    """Load the config's corpus and fill in the defaults that depend on it."""
    try:
        if config.corpus_file:
            corpus = load_file_corpus(config.corpus_file, config.encoding, config.encoding_errors,
                                      config.max_tokens or 0)
        else:
            corpus = load_corpus(config.corpus, config.max_tokens or 0)
    except CorpusError as exc:
        raise InputError(str(exc)) from None
    if config.preprocess is None:
        config.preprocess = corpus.preprocess
    if config.max_tokens is None:
        config.max_tokens = corpus.max_tokens
    if not config.prefix:
        config.prefix = corpus.prefix or DEFAULT_PREFIX
    return corpus


def check_config(config: TrainConfig, ignore: tuple[str, ...] = ()) -> None:
    problem = config.first_error(ignore)
    if problem:
        raise InputError(problem)


class Output:
    """Prints events as text lines or JSON; a vanished terminal (SIGHUP, closed pipe) is not an error."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self.alive = True
        self.progress_on_tty = not as_json and sys.stderr.isatty()

    def write(self, text: str, err: bool = False) -> None:
        if not self.alive:
            return
        stream = sys.stderr if err else sys.stdout
        try:
            stream.write(text)
            stream.flush()
        except OSError:
            self.alive = False  # the link dropped; the run itself goes on and is checkpointed

    def event(self, data: dict) -> None:
        if self.as_json:
            self.write(json.dumps(data, ensure_ascii=False, allow_nan=True) + "\n")
            return
        kind = data["event"]
        if kind == "start":
            c = data["corpus"]
            resumed = f", resuming after epoch {data['start_epoch']}" if data["start_epoch"] else ""
            self.write(f"run folder: {data['run_dir']}\n"
                       f"training {data['config']['model']} ({data['num_parameters']:,} parameters) on "
                       f"{data['device']}{resumed}\ncorpus: {c.get('name')}, vocab {data['vocab_size']}, "
                       f"{c.get('train_tokens', 0):,} training / {c.get('val_tokens', 0):,} validation tokens, "
                       f"{data['batches_per_epoch']} minibatches per epoch\n")
            if data.get("floor_perplexity"):
                self.write(f"best achievable perplexity (floor): {data['floor_perplexity']:.3f}\n")
        elif kind == "progress" and self.progress_on_tty:
            self.write(f"\repoch {data['epoch']}: {data['batch']}/{data['batches']} minibatches, perplexity "
                       f"{data['train_perplexity']:.2f}, {data['tokens_per_sec']:,.0f} tokens/sec ", err=True)
        elif kind == "epoch":
            if self.progress_on_tty:
                self.write("\r\033[K", err=True)
            val = f"  val {data['val_perplexity']:.3f}" if data["val_perplexity"] is not None else ""
            self.write(f"epoch {data['epoch']}/{data['epochs']}  perplexity {data['train_perplexity']:.3f}{val}  "
                       f"{data['tokens_per_sec']:,.0f} tokens/sec  grad norm {data['grad_norm']:.3f}  "
                       f"eta {format_seconds(data['eta_s'])}\n")
        elif kind == "sample":
            self.write(f"  {data['text']!r}\n" if "\n" in data["text"] else f"  {data['text']}\n")
        elif kind == "checkpoint" and not data["ok"]:
            self.write(f"warning: checkpoint of epoch {data['epoch']} not written ({data['error']}); "
                       f"the previous one is intact and training goes on\n", err=True)
        elif kind == "diverged":
            self.write(f"diverged at epoch {data['epoch']} (loss {data['loss']}); kept the weights of epoch "
                       f"{data['restored_epoch']}. Try a lower --lr, or --clip 1\n", err=True)
        elif kind == "finished":
            if data["train_perplexity"] is not None:
                # d2l's closing line, then its closing predictions.
                self.write(f"perplexity {data['train_perplexity']:.1f}, {data['tokens_per_sec']:.1f} "
                           f"tokens/sec on {data['device']}\n")
                for sample in data["samples"]:
                    self.write(sample["text"] + "\n")
            if data["checkpoint"]:
                self.write(f"checkpoint: {data['checkpoint']}\n")


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _watch_stdin(control) -> None:
    """The dashboard drives a training process through its stdin, one command per line."""
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "pause":
            control.pause()
        elif command == "resume":
            control.resume()
        elif command == "stop":
            control.request_stop("stopped")
        elif command == "save":
            control.request_save()
        elif command == "sample":
            control.request_sample(**(json.loads(argument) if argument else {}))
    control.request_stop("stopped")  # the dashboard went away: stop cleanly, with a checkpoint


def _install_signal_handlers(control) -> None:
    def handler(signum, _frame):
        name = signal.Signals(signum).name
        control.request_stop(name)
        signal.signal(signum, signal.SIG_DFL)  # a second one ends the process at once
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def run_train(config: TrainConfig, as_json: bool, resume: str | None, overrides: dict, control_stdin: bool) -> int:
    out = Output(as_json)
    try:
        return _run_train(config, out, resume, overrides, control_stdin)
    except click.ClickException as exc:
        if as_json:
            out.event(Error(message=exc.format_message(), kind="input").to_dict())
        raise


def _run_train(config: TrainConfig, out: Output, resume: str | None, overrides: dict, control_stdin: bool) -> int:
    # torch loads only here, after the options have been checked.
    check_config(config, ignore=("prefix",))
    import torch

    from engine.checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint
    from engine.control import TrainControl
    from engine.runs import RunDir, default_run_dir
    from engine.session import recorded_run
    from engine.trainer import Trainer, TrainingInputError

    state = None
    if resume:
        try:
            checkpoint_path = resolve_checkpoint(resume)
            state = load_checkpoint(checkpoint_path)
        except CheckpointError as exc:
            raise InputError(str(exc)) from None
        config = TrainConfig.from_dict(state["config"])
        for key, value in overrides.items():  # only what the user typed on this command line
            setattr(config, key, value)
        run = RunDir(checkpoint_path.parent)
    corpus = load_corpus_for(config)
    check_config(config)
    if state is not None:
        if state.get("source", {}).get("sha1") not in (None, corpus.info()["sha1"]):
            raise InputError("the corpus has changed since this checkpoint was written; resuming would not be exact")
        if state["epoch"] >= config.epochs:
            raise InputError(f"the checkpoint has already done {state['epoch']} epochs; pass --epochs N with N "
                             f"above {state['epoch']} to train on")
    else:
        run = RunDir(config.run_dir or default_run_dir(config.model))

    control = TrainControl()
    _install_signal_handlers(control)
    if control_stdin:
        threading.Thread(target=_watch_stdin, args=(control,), daemon=True).start()
    try:
        trainer = Trainer(config, corpus.text, corpus.info(), control=control, resume=state)
        finished = None
        for event in recorded_run(trainer, run, resumed=state is not None):
            data = event.to_dict()
            out.event(data)
            if data["event"] == "finished":
                finished = data
    except TrainingInputError as exc:
        raise InputError(str(exc)) from None
    except torch.OutOfMemoryError:
        message = (f"out of memory on {config.device}: reduce --batch-size ({config.batch_size}), --hidden "
                   f"({config.hidden}) or --num-steps ({config.num_steps}); completed epochs are in {run.path}")
        if out.as_json:
            out.event(Error(message=message, kind="oom").to_dict())
        out.write(f"error: {message}\n", err=True)
        return 1
    if finished["status"] == "interrupted":
        where = f"checkpoint: {finished['checkpoint']}" if finished["checkpoint"] else "no epoch had completed"
        out.write(f"interrupted by {finished['reason']} after epoch {finished['epoch']}; {where}; "
                  f"resume with: rnn-tui train --resume {run.path}\n", err=True)
        return 128 + int(getattr(signal, finished["reason"], 2))
    return 1 if finished["status"] == "diverged" else 0


def run_generate(path: str, prefix: str | None, length: int, temperature: float, top_k: int, seed: int,
                 device: str) -> int:
    if length < 1 or temperature < 0 or top_k < 0:
        raise InputError("--length must be ≥ 1, --temperature ≥ 0 and --top-k ≥ 0")
    from engine.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
    from engine.device import resolve_device
    from engine.generation import generate_text

    try:
        target = resolve_device(device)
        model, vocab, config = model_from_checkpoint(load_checkpoint(path), target)
        pieces = generate_text(model, vocab, prefix or config.prefix, length, preprocess=config.preprocess or "raw",
                               tokens=config.tokens, temperature=temperature, top_k=top_k, seed=seed, device=target)
        out = Output(as_json=False)
        for piece in pieces:
            out.write(piece)
        out.write("\n")
    except (CheckpointError, ValueError) as exc:
        raise InputError(str(exc)) from None
    return 0


def corpora_table() -> str:
    """The registry as a table that fits 80 columns; origins and options follow it, one per line."""
    from corpora import REGISTRY
    rows = [("name", "offline", "preprocess", "description")]
    rows += [(s.name, "yes" if s.available() else "download", s.preprocess, s.description) for s in REGISTRY.values()]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[3]]) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in (*widths, len("description"))))
    lines += ["", "Origins and licences:"]
    lines += [f"  {s.name}: {s.origin} ({s.licence})" for s in REGISTRY.values()]
    lines += ["", "Options (defaults shown):"]
    lines += [f"  --corpus {s.name}:{s.options}" for s in REGISTRY.values() if s.options]
    lines += ["", f"Any UTF-8 file: --corpus-file PATH. Downloads are cached in $RNN_TUI_DATA (now: {_data_dir()})."]
    return "\n".join(lines)


def _data_dir() -> Path:
    from corpora.download import data_dir
    return data_dir()
