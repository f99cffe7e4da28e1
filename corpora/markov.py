"""Synthetic text from a seeded k-th-order Markov chain, with its exact entropy rate.

The best any model can do on such text is perplexity exp(H), H the chain's entropy rate in nats:
a floor to draw on the chart, and a test that training really learns.
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass

from rnn_tui.corpora.errors import CorpusError

ALPHABET = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class MarkovSpec:
    order: int = 1
    alphabet: int = 8
    length: int = 100_000
    seed: int = 0
    concentration: float = 0.3  # Dirichlet α of each next-symbol distribution: small is peaky

    @classmethod
    def parse(cls, options: str) -> "MarkovSpec":
        """``"order=2,alphabet=8,seed=0"`` (any subset, any order)."""
        values: dict = {}
        for item in filter(None, (s.strip() for s in options.split(","))):
            key, _, raw = item.partition("=")
            key = key.strip()
            if key not in cls.__dataclass_fields__ or not raw:
                raise CorpusError(f"unknown markov option {item!r}; use order, alphabet, length, seed, concentration")
            try:
                values[key] = float(raw) if key == "concentration" else int(raw)
            except ValueError:
                raise CorpusError(f"markov option {key} needs a number, got {raw!r}") from None
        spec = cls(**values)
        # bounds that keep building the chain to seconds: its table and its text grow without limit otherwise
        if not (1 <= spec.order <= 6 and 2 <= spec.alphabet <= len(ALPHABET) and 1000 <= spec.length <= MAX_LENGTH
                and 0 < spec.concentration <= MAX_CONCENTRATION and spec.alphabet ** (spec.order + 1) <= MAX_TABLE):
            raise CorpusError(f"markov needs 1 ≤ order ≤ 6, 2 ≤ alphabet ≤ 26, 1,000 ≤ length ≤ {MAX_LENGTH:,}, "
                              f"0 < concentration ≤ {MAX_CONCENTRATION:,.0f}, and alphabet^(order+1) ≤ {MAX_TABLE:,} "
                              f"(its transition table)")
        return spec


MAX_LENGTH = 5_000_000
MAX_TABLE = 200_000
MAX_CONCENTRATION = 1e6  # far past uniform; an infinite α would never leave the Gamma sampler


class MarkovChain:
    def __init__(self, spec: MarkovSpec):
        self.spec = spec
        rng = random.Random(spec.seed)
        self.contexts = list(itertools.product(range(spec.alphabet), repeat=spec.order))
        self.next_probs: dict[tuple, list[float]] = {}
        for context in self.contexts:
            weights = [rng.gammavariate(spec.concentration, 1.0) + 1e-12 for _ in range(spec.alphabet)]
            total = sum(weights)
            self.next_probs[context] = [w / total for w in weights]

    def stationary(self, iterations: int = 2000, tol: float = 1e-13) -> dict[tuple, float]:
        """The stationary distribution over contexts, by power iteration."""
        pi = {c: 1.0 / len(self.contexts) for c in self.contexts}
        for _ in range(iterations):
            new = dict.fromkeys(self.contexts, 0.0)
            for context, mass in pi.items():
                for symbol, p in enumerate(self.next_probs[context]):
                    new[context[1:] + (symbol,)] += mass * p
            delta = sum(abs(new[c] - pi[c]) for c in self.contexts)
            pi = new
            if delta < tol:
                break
        return pi

    def entropy_rate(self) -> float:
        """H = -Σ_s π(s) Σ_a P(a|s) log P(a|s), in nats per symbol."""
        pi = self.stationary()
        return -sum(pi[c] * sum(p * math.log(p) for p in self.next_probs[c] if p > 0) for c in self.contexts)

    def floor_perplexity(self) -> float:
        return math.exp(self.entropy_rate())

    def sample(self) -> str:
        rng = random.Random(self.spec.seed + 1)
        symbols = ALPHABET[: self.spec.alphabet]
        context = tuple(rng.randrange(self.spec.alphabet) for _ in range(self.spec.order))
        out = []
        for _ in range(self.spec.length):
            nxt = rng.choices(range(self.spec.alphabet), weights=self.next_probs[context])[0]
            out.append(symbols[nxt])
            context = context[1:] + (nxt,)
        return "".join(out)
