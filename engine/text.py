"""Turning raw text into a token stream, d2l §8.2 style.

Two preprocessing modes:
- ``d2l``: every run of non-letters becomes one space, lines are stripped and lower-cased,
  and lines are concatenated with no separator (exactly what ``load_corpus_time_machine`` does,
  so The Time Machine gives d2l's 28-token vocabulary and its perplexities).
- ``raw``: every Unicode character is kept, newlines included.
"""
from __future__ import annotations

import re

from rnn_tui.engine.config import PREPROCESS_MODES, TOKEN_KINDS

_NON_LETTERS = re.compile(r"[^A-Za-z]+")


def preprocess_d2l_line(line: str) -> str:
    return _NON_LETTERS.sub(" ", line).strip().lower()


def tokenize(text: str, preprocess: str = "raw", tokens: str = "char") -> list[str]:
    """Return the flat token stream of ``text``."""
    if preprocess not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocessing {preprocess!r}; choose from {', '.join(PREPROCESS_MODES)}")
    if tokens not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {tokens!r}; choose from {', '.join(TOKEN_KINDS)}")
    if preprocess == "d2l":
        lines = [preprocess_d2l_line(line) for line in text.splitlines()]
        if tokens == "char":
            return [ch for line in lines for ch in line]
        return [word for line in lines for word in line.split()]
    if tokens == "char":
        return list(text)
    # Raw word tokens keep line breaks as tokens so generated text keeps its shape.
    return [tok for tok in re.findall(r"\n|[^\s]+", text)]


def tokenize_prefix(prefix: str, preprocess: str = "raw", tokens: str = "char") -> list[str]:
    """Tokenize a generation prompt the way the corpus was tokenized.

    Unlike corpus lines, a prompt is not stripped: a trailing space is part of what the user asked.
    """
    if preprocess == "d2l":
        prefix = _NON_LETTERS.sub(" ", prefix).lower()
    if tokens == "char":
        return list(prefix)
    return re.findall(r"\n|[^\s]+", prefix)


def detokenize(tokens: list[str], kind: str = "char") -> str:
    if kind == "char":
        return "".join(tokens)
    out: list[str] = []
    for tok in tokens:
        if out and tok != "\n" and out[-1] != "\n":
            out.append(" ")
        out.append(tok)
    return "".join(out)
