"""The offline default: this Python's own standard-library source, the classic char-RNN demo."""
from __future__ import annotations

import os
import platform
import sysconfig
from pathlib import Path

DEFAULT_CAP_CHARS = 256 * 1024
_SKIP_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__", "ensurepip",
              "lib2to3", "turtledemo", "pydoc_data", "encodings"}


def stdlib_files() -> list[Path]:
    """Standard-library ``.py`` files in a deterministic order (sorted relative paths)."""
    root = sysconfig.get_paths()["stdlib"]
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]  # prune: site-packages can be huge
        found += [os.path.join(folder, f) for f in files if f.endswith(".py")]
    return sorted((Path(f) for f in found), key=lambda p: p.relative_to(root).as_posix())


def stdlib_text(cap_chars: int = DEFAULT_CAP_CHARS) -> str:
    """Whole source files, in order, concatenated up to ``cap_chars`` characters."""
    parts, size = [], 0
    for path in stdlib_files():
        source = path.read_text(encoding="utf-8", errors="replace")
        parts.append(source)
        size += len(source)
        if size >= cap_chars:
            break
    return "".join(parts)[:cap_chars]


def python_version() -> str:
    return platform.python_version()
