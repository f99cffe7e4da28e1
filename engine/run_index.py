"""Where this user's runs are, wherever they were started: a per-user index of run folders.

A run goes where it is told (``--run-dir``, ``$RNN_TUI_RUNS``, else ``./runs`` of the folder the user
stood in), so a later SSH login in another folder would not find it. Each run's folder is named by
one small file in ``$XDG_STATE_HOME/rnn-tui/runs`` (``~/.local/state`` by default: it outlives a
logout, as a detached run does, where ``$XDG_RUNTIME_DIR`` is removed), written when the run starts.
``attach``, ``logs``, ``control``, ``runs`` and the runs screen read it; an entry whose folder no
longer holds a run (deleted, moved) is dropped by the first reader to see it. Nothing here imports torch.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from rnn_tui.engine.runs import SWEEP_MARKER, RunDir, runs_root

STATE_ENV = "XDG_STATE_HOME"


def index_dir() -> Path:
    state = os.environ.get(STATE_ENV, "")
    if not os.path.isabs(state):  # the XDG rule: unset, empty or relative means the default
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "rnn-tui" / "runs"


def _entry_path(folder: Path) -> Path:
    return index_dir() / (hashlib.sha1(os.fsencode(folder)).hexdigest()[:20] + ".json")


def register(folder: str | os.PathLike) -> None:
    """Name ``folder`` in the index (OSError if the index cannot be written: the caller tells)."""
    folder = RunDir(folder).path
    index = index_dir()
    index.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=".entry-", suffix=".tmp", dir=index)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"path": os.fsdecode(folder)}, handle, ensure_ascii=False)
        os.replace(temporary, _entry_path(folder))
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def unregister(folder: str | os.PathLike) -> None:
    try:
        _entry_path(RunDir(folder).path).unlink(missing_ok=True)
    except OSError:
        pass  # an index that cannot be written is read back pruned


def _entry_folder(entry: Path) -> Path | None:
    """The run folder an entry names, or None for a damaged entry (a file of ours, read as input)."""
    try:
        value = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    path = value.get("path") if isinstance(value, dict) else None
    if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
        return None
    return Path(path)


def indexed_folders() -> list[Path]:
    """The run folders the index names; entries that are damaged or name no run any more are removed."""
    try:
        entries = sorted(index_dir().glob("*.json"))
    except OSError:
        return []
    folders = []
    for entry in entries:
        folder = _entry_folder(entry)
        if folder is not None and RunDir(folder).holds_run():
            folders.append(folder)
        else:
            entry.unlink(missing_ok=True)
    return folders


def known_run_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The folders under ``root`` (a sweep's folder there: its trials' folders); with no root given, those
    under the runs root and then the runs the index names elsewhere."""
    root_path = RunDir(root if root is not None else runs_root()).path
    under_root = []
    for path in _folders_in(root_path):  # a sweep's folder stands for its trials
        under_root += _folders_in(path) if (path / SWEEP_MARKER).is_file() else [path]
    if root is not None:
        return under_root
    seen = set(under_root)
    return under_root + [folder for folder in indexed_folders() if folder not in seen]


def _folders_in(path: Path) -> list[Path]:
    try:
        return sorted(child for child in path.iterdir() if child.is_dir()) if path.is_dir() else []
    except OSError:
        return []


def resolve_run(name: str | os.PathLike) -> Path | None:
    """The run folder ``name`` means: a path to one, else a folder's name under the runs root or in the
    index (``rnn-tui attach 20261206-101500-lstm`` from any folder); None when nothing matches."""
    if RunDir(name).holds_run():
        return RunDir(name).path
    text = os.fsdecode(name)
    if os.sep in text:
        return None  # a path that is not a run folder: not a name to look up
    matches = [folder for folder in known_run_folders() if folder.name == text and RunDir(folder).holds_run()]
    return matches[0] if matches else None
