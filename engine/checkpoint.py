"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint is a ``torch.save`` of plain containers and tensors only (weights, vocab, config,
optimizer state, RNG states, epoch, metrics history). It is loaded with ``weights_only=True``,
which refuses any pickled object outside that set, so a hostile file cannot run code.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import warnings
from pathlib import Path

import torch

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.errors import InputProblem
from rnn_tui.engine.runs import BEST_NAME, CHECKPOINT_NAME, RunDir
from rnn_tui.engine.schema import BestEpoch, CheckpointState, Damaged, EpochUnderway, MetricsLine, conform

FORMAT = "rnn-tui-checkpoint"
VERSION = 1


class CheckpointError(InputProblem):
    """A file cannot be used as a checkpoint; the message is one line for the user."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """Write ``state`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    A crash or a failing disk mid-write leaves the previous checkpoint at ``path`` intact;
    the ``OSError`` propagates to the caller, which reports it and goes on training.
    """
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp_name = tempfile.mkstemp(prefix=".checkpoint-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform lets a folder be opened; the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def resolve_checkpoint(path: str | os.PathLike, which: str = "latest") -> Path:
    """A checkpoint file, or in a run folder its latest checkpoint, or with ``which="best"`` its best
    (``best.pt``, the lowest validation loss) where it has one."""
    try:
        return _resolve_checkpoint(RunDir(path).path, which)  # absolute: what is printed can be pasted anywhere
    except OSError as exc:  # a name too long, a folder that cannot be read
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror or exc}") from None


def _resolve_checkpoint(path: Path, which: str) -> Path:
    if path.is_dir():
        if which == "best" and (path / BEST_NAME).is_file():
            return path / BEST_NAME
        candidate = path / CHECKPOINT_NAME
        if not candidate.is_file():
            raise CheckpointError(f"no checkpoint in run folder {path} (expected {CHECKPOINT_NAME})")
        return candidate
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():  # a FIFO or a device: reading it would block, or never end
        raise CheckpointError(f"{path} is not a regular file, so not a checkpoint")
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu", which: str = "latest") -> dict:
    """Load and check a checkpoint (``which``: as ``resolve_checkpoint``); ``CheckpointError`` for a bad one."""
    path = resolve_checkpoint(path, which)
    try:
        with warnings.catch_warnings():
            # a pickle not written by torch.save draws torch's note on its protocol; the verdict below is ours
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(f"refused {path}: it holds objects other than tensors and plain data "
                              f"(not an rnn-tui checkpoint, or a tampered one); nothing in it was run") from None
    except Exception as exc:  # noqa: BLE001 - whatever a damaged file makes the reader raise, refuse it
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: corrupt or truncated ({reason[:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an rnn-tui checkpoint")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{path} is checkpoint format version {state.get('version')}; "
                              f"this rnn-tui reads version {VERSION}")
    try:
        check_state(state, f"checkpoint {path}")
    except Damaged as exc:
        raise CheckpointError(f"{exc}: not a checkpoint rnn-tui can use") from None
    return state


def check_state(state: dict, where: str) -> None:
    """Damaged unless ``state`` holds what a checkpoint must (engine/schema.py), its config a usable one."""
    conform(CheckpointState, state, where)
    conform(TrainConfig, state["config"], f"{where}: config")
    problem = TrainConfig.from_dict(state["config"]).first_error(ignore=("corpus",))  # a corpus since renamed: its
    if problem:                                                                      # text's checksum decides
        raise Damaged(f"{where}: config {problem}")
    if len(state["vocab"]) < 2 or len(set(state["vocab"])) != len(state["vocab"]):
        raise Damaged(f"{where}: vocab holds {len(state['vocab'])} tokens, not two or more distinct ones")
    if not all(isinstance(name, str) and isinstance(value, torch.Tensor) for name, value in state["model_state"].items()):
        raise Damaged(f"{where}: model_state holds something other than named tensors")
    if state["best"]:
        conform(BestEpoch, state["best"], f"{where}: best")
    for point in state["history"]:
        conform(MetricsLine, point, f"{where}: history")
    if state.get("underway") is not None:
        underway = conform(EpochUnderway, state["underway"], f"{where}: underway")
        if underway.state is not None and not all(isinstance(part, torch.Tensor) for part in underway.state):
            raise Damaged(f"{where}: underway state holds something other than tensors")


def model_from_checkpoint(state: dict, device=None, kernels: str = "auto"):
    """Rebuild (model, vocab, config) from a loaded checkpoint, on ``device`` (default: CPU).

    ``kernels``: what this process runs the model on, whatever the run that wrote it used."""
    from rnn_tui.engine.models import model_for
    from rnn_tui.engine.vocab import Vocab

    try:
        config = TrainConfig.from_dict(state["config"])
        config.kernels = kernels
        vocab = Vocab.from_list(state["vocab"])
        model = model_for(config, len(vocab))
        model.load_state_dict(state["model_state"])
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0][:120]
        raise CheckpointError(f"checkpoint does not describe a usable model ({reason})") from None
    if not all(torch.isfinite(tensor).all() for tensor in model.state_dict().values() if tensor.is_floating_point()):
        raise CheckpointError("the checkpoint's weights hold NaN or infinite values: nothing can be generated "
                              "from it (a run that diverged keeps its last good weights in its folder's checkpoint)")
    return model.to(device or "cpu").eval(), vocab, config
