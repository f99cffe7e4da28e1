"""``Vocab``: tokens <-> indices, ordered by frequency, ``<unk>`` at index 0 (d2l §8.2)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

UNK = "<unk>"
# What a generated <unk> looks like on screen: visible, and not a character of any corpus we ship.
UNK_PLACEHOLDER = "\ufffd"


class Vocab:
    """Frequency-ordered vocabulary.

    Ties keep first-occurrence order, which is what d2l's stable sort of a ``Counter`` gives,
    so The Time Machine maps to the same indices as in the book.
    ``max_size`` counts every entry, ``<unk>`` and reserved tokens included (0 = no cap).
    """

    def __init__(self, tokens: Iterable[str] = (), min_freq: int = 0,
                 reserved_tokens: Sequence[str] = (), max_size: int = 0):
        counts = Counter(tokens)
        self.token_freqs = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)
        self.idx_to_token: list[str] = [UNK, *[t for t in reserved_tokens if t != UNK]]
        self.token_to_idx: dict[str, int] = {t: i for i, t in enumerate(self.idx_to_token)}
        for token, freq in self.token_freqs:
            if freq < min_freq or (max_size and len(self.idx_to_token) >= max_size):
                break
            if token not in self.token_to_idx:
                self.token_to_idx[token] = len(self.idx_to_token)
                self.idx_to_token.append(token)

    @classmethod
    def from_list(cls, idx_to_token: Sequence[str]) -> "Vocab":
        """Rebuild a vocabulary saved with ``idx_to_token`` (from a checkpoint)."""
        if not idx_to_token or idx_to_token[0] != UNK:
            raise ValueError("a saved vocabulary must start with <unk>")
        vocab = cls()
        vocab.idx_to_token = list(idx_to_token)
        vocab.token_to_idx = {t: i for i, t in enumerate(vocab.idx_to_token)}
        return vocab

    def __len__(self) -> int:
        return len(self.idx_to_token)

    @property
    def unk(self) -> int:
        return 0

    def __getitem__(self, tokens):
        """A token gives its index, a list of tokens a list; unknown tokens give ``<unk>``."""
        if isinstance(tokens, (list, tuple)):
            return [self.token_to_idx.get(t, 0) for t in tokens]
        return self.token_to_idx.get(tokens, 0)

    def to_tokens(self, indices):
        if isinstance(indices, (list, tuple)):
            return [self.idx_to_token[i] for i in indices]
        return self.idx_to_token[indices]

    def display(self, index: int) -> str:
        """The token as shown to a person: ``<unk>`` becomes a visible placeholder."""
        return UNK_PLACEHOLDER if index == 0 else self.idx_to_token[index]
