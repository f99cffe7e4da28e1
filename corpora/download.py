"""Download-once, checksum-verified corpus files in a cache folder."""
from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from pathlib import Path

from rnn_tui.corpora.errors import CorpusError


def data_dir() -> Path:
    """``$RNN_TUI_DATA``, else ``$XDG_CACHE_HOME/rnn-tui``, else ``~/.cache/rnn-tui``; CorpusError where the
    variable names something that is not a folder."""
    if os.environ.get("RNN_TUI_DATA"):
        folder = Path(os.environ["RNN_TUI_DATA"]).expanduser()
        try:
            usable = folder.is_dir() or not folder.exists()
        except OSError as exc:
            raise CorpusError(f"RNN_TUI_DATA={folder} cannot be a folder ({exc.strerror or exc})") from None
        if not usable:
            raise CorpusError(f"RNN_TUI_DATA={folder} is not a folder: point it at the one that holds the corpora")
        return folder
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):  # the XDG rule: a relative path is ignored
        cache = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "rnn-tui"


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_file(filename: str, sha1: str) -> Path | None:
    """The verified cached copy of ``filename``, or None if it is absent (or does not verify)."""
    path = data_dir() / filename
    return path if path.is_file() and sha1_of(path) == sha1 else None


MAX_DOWNLOAD_BYTES = 64 * 2**20  # every corpus we fetch is far smaller: a server sending more is not sending it


def fetch(filename: str, url: str, sha1: str, progress=None, timeout_s: float = 30.0,
          max_bytes: int = MAX_DOWNLOAD_BYTES) -> Path:
    """Return the verified local copy of ``url``, downloading it once if needed (at most ``max_bytes``)."""
    found = cached_file(filename, sha1)
    if found:
        return found
    folder = data_dir()
    target = folder / filename
    partial = folder / (filename + ".part")
    progress = progress or _stderr_progress(filename)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for block in iter(lambda: response.read(1 << 16), b""):
                done += len(block)
                if done > max_bytes or total > max_bytes:
                    raise _TooLarge()
                out.write(block)
                progress(done, total)
    except _TooLarge:
        _remove(partial)
        raise CorpusError(f"{url} sent more than {max_bytes // 2**20} MiB for {filename}: not the expected file; "
                          f"nothing was kept") from None
    except OSError as exc:
        _remove(partial)
        raise CorpusError(f"cannot download {filename} from {url} ({getattr(exc, 'reason', exc)}); "
                          f"put a copy (SHA-1 {sha1}) at {target} or set RNN_TUI_DATA to its folder") from None
    if sha1_of(partial) != sha1:
        partial.unlink(missing_ok=True)
        raise CorpusError(f"downloaded {filename} does not match its SHA-1 {sha1}; it was removed")
    os.replace(partial, target)
    return target


class _TooLarge(Exception):
    pass


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass  # its folder is the problem, and is told


def _stderr_progress(filename: str):
    def report(done: int, total: int) -> None:
        if sys.stderr.isatty():
            share = f" {100 * done // total}%" if total else ""
            print(f"\rdownloading {filename}: {done // 1024} KiB{share}", end="", file=sys.stderr, flush=True)
    return report
