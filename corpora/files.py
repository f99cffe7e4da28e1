"""Reading any text file safely: one clear error per bad input, bounded memory for huge files."""
from __future__ import annotations

import os

from rnn_tui.corpora.errors import CorpusError

# Above this size a file is read only up to what --max-tokens needs ($RNN_TUI_MAX_READ_BYTES sets it).
MEMORY_BUDGET_BYTES = 256 * 2**20
BUDGET_ENV = "RNN_TUI_MAX_READ_BYTES"


def memory_budget() -> int:
    """The bytes of a corpus file read in full: ``$RNN_TUI_MAX_READ_BYTES``, else 256 MiB."""
    raw = os.environ.get(BUDGET_ENV, "").strip()
    if not raw:
        return MEMORY_BUDGET_BYTES
    try:
        budget = int(raw.replace("_", ""))
    except ValueError:
        budget = 0
    if budget < 1:
        raise CorpusError(f"{BUDGET_ENV} must be a whole number of bytes above 0 (got {raw!r})")
    return budget
_SNIFF_BYTES = 1 << 16


def read_text_file(path: str, encoding: str = "utf-8", errors: str = "strict", max_tokens: int = 0) -> str:
    """Return the text of ``path`` (all of it, or a prefix large enough for ``max_tokens``)."""
    if not os.path.exists(path):
        raise CorpusError(f"corpus file not found: {path}")
    if os.path.isdir(path):
        raise CorpusError(f"corpus path is a directory, not a text file: {path}")
    if not os.path.isfile(path):  # a FIFO or a device would block the read, or never end it
        raise CorpusError(f"corpus path is not a regular file: {path}")
    budget = memory_budget()
    size = os.path.getsize(path)
    if size == 0:
        raise CorpusError(f"corpus file is empty: {path}")
    try:
        with open(path, "rb") as handle:
            if b"\x00" in handle.read(_SNIFF_BYTES) and not _wide(encoding):
                raise CorpusError(f"corpus file looks binary (it holds NUL bytes), not text: {path}")
            handle.seek(0)
            if size <= budget:
                data = handle.read()
            elif max_tokens > 0:
                # A token is at least one character and a character at most 4 UTF-8 bytes; preprocessing
                # can drop characters, so read generously, but never past the budget.
                data = handle.read(min(budget, max(_SNIFF_BYTES, 8 * max_tokens)))
                data = _drop_partial_utf8(data) if encoding.replace("-", "").lower() == "utf8" else data
            else:
                raise CorpusError(
                    f"corpus file is {size / 2**30:.1f} GiB, above the {budget / 2**20:.4g} MiB memory "
                    f"budget; pass --max-tokens N to read only its start: {path}")
    except OSError as exc:
        raise CorpusError(f"cannot read corpus file {path}: {exc.strerror or exc}") from None
    if b"\x00" in data and not _wide(encoding):
        raise CorpusError(f"corpus file looks binary (it holds NUL bytes), not text: {path}")
    try:
        text = data.decode(encoding, errors=errors)
    except LookupError:
        raise CorpusError(f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"corpus file is not valid {exc.encoding} at byte offset {exc.start}: {path} "
            f"(pass --encoding NAME, or --encoding-errors replace to go on)") from None
    if not text.strip():
        raise CorpusError(f"corpus file holds only whitespace: {path}")
    return text


def _drop_partial_utf8(data: bytes) -> bytes:
    """Cut a trailing, incomplete UTF-8 sequence left by reading a fixed number of bytes."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): is its sequence complete?
            need = 1 if byte < 0x80 else 4 if byte >= 0xF0 else 3 if byte >= 0xE0 else 2
            return data if need <= back else data[:-back]
    return data


def _wide(encoding: str) -> bool:
    """UTF-16 and UTF-32 text is full of NUL bytes: for them NUL is no sign of a binary file."""
    return encoding.replace("-", "").replace("_", "").lower().startswith(("utf16", "utf32"))
