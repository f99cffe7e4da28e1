"""``TrainConfig``: every knob of a run, validated without importing torch.

The dashboard's form and the CLI's options both build one of these; the field names are the
CLI option names with ``-`` → ``_``. ``None`` for ``preprocess`` / ``max_tokens`` means "the
corpus's own default" (d2l's for The Time Machine, raw text elsewhere).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

MODEL_NAMES = ("scratch-rnn", "scratch-gru", "scratch-lstm", "rnn", "gru", "lstm")
SAMPLERS = ("sequential", "random")
OPTIMIZERS = ("sgd", "adam")
PREPROCESS_MODES = ("d2l", "raw")
TOKEN_KINDS = ("char", "word")
SCRATCH_PATHS = ("fast", "textbook")
ACTIVATIONS = ("tanh", "relu")
INPUT_KINDS = ("onehot", "embedding")
AUTOCAST_MODES = ("off", "bf16")
KERNELS = ("auto", "c", "onednn", "torch")  # engine/kernels: what the fast path's steps run on
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class TrainConfig:
    # what to learn from
    corpus: str = "python-stdlib"
    corpus_file: str | None = None
    encoding: str = "utf-8"
    encoding_errors: str = "strict"
    preprocess: str | None = None
    tokens: str = "char"
    max_tokens: int | None = None
    val_fraction: float = 0.1
    min_freq: int = 0
    max_vocab: int = 0
    # the model (defaults: d2l §8.5)
    model: str = "scratch-rnn"
    hidden: int = 512
    layers: int = 1
    dropout: float = 0.0
    activation: str = "tanh"
    path: str = "fast"
    kernels: str = "auto"
    input: str = "onehot"
    autocast: str = "off"  # bf16: the concise models' forward in bfloat16 (torch.autocast), weights float32
    # optimisation
    batch_size: int = 32
    num_steps: int = 35
    sampler: str = "sequential"
    optimizer: str = "sgd"
    lr: float = 1.0
    epochs: int = 500
    clip: float = 1.0
    device: str = "auto"
    seed: int = 0
    # samples shown while training (d2l: the first 50 characters after "time traveller")
    prefix: str = "time traveller"
    sample_every: int = 10
    sample_length: int = 50
    temperature: float = 0.0
    top_k: int = 0
    # runs
    checkpoint_every: int = 1
    run_dir: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def errors(self) -> dict[str, str]:
        """Field name → reason, for every invalid value (empty when the config is usable)."""
        problems: dict[str, str] = {}

        def need(name: str, ok: bool, reason: str) -> None:
            if not ok and name not in problems:
                problems[name] = reason

        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            need(name, value in options, f"must be one of {', '.join(options)} (got {value!r})")

        choice("model", MODEL_NAMES)
        choice("sampler", SAMPLERS)
        choice("optimizer", OPTIMIZERS)
        choice("tokens", TOKEN_KINDS)
        choice("activation", ACTIVATIONS)
        choice("path", SCRATCH_PATHS)
        choice("input", INPUT_KINDS)
        choice("autocast", AUTOCAST_MODES)
        choice("kernels", KERNELS)
        need("autocast", self.autocast == "off" or not self.scratch(),
             "bf16 is for the concise models only (rnn, gru, lstm)")
        if self.preprocess is not None:
            choice("preprocess", PREPROCESS_MODES)
        for name in ("hidden", "layers", "batch_size", "num_steps", "epochs", "sample_length",
                     "checkpoint_every"):
            value = getattr(self, name)
            need(name, isinstance(value, int) and value > 0, f"must be a positive integer (got {value!r})")
        for name in ("min_freq", "max_vocab", "sample_every", "top_k"):
            value = getattr(self, name)
            need(name, isinstance(value, int) and value >= 0, f"must be 0 or more (got {value!r})")
        if self.max_tokens is not None:
            need("max_tokens", isinstance(self.max_tokens, int) and self.max_tokens >= 0,
                 f"must be 0 (all) or more (got {self.max_tokens!r})")
        need("max_vocab", self.max_vocab == 0 or self.max_vocab >= 2, "must be 0 (no cap) or at least 2")
        need("lr", _finite(self.lr) and self.lr > 0, f"must be a number above 0 (got {self.lr!r})")
        need("clip", _finite(self.clip) and self.clip >= 0, f"must be 0 (off) or more (got {self.clip!r})")
        need("dropout", _finite(self.dropout) and 0 <= self.dropout < 1, f"must be in [0, 1) (got {self.dropout!r})")
        need("val_fraction", _finite(self.val_fraction) and 0 <= self.val_fraction < 1,
             f"must be in [0, 1) (got {self.val_fraction!r})")
        need("temperature", _finite(self.temperature) and self.temperature >= 0,
             f"must be 0 (greedy) or more (got {self.temperature!r})")
        need("device", isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device.strip().lower())),
             f"must be auto, cpu, cuda, cuda:N or mps (got {self.device!r})")
        need("seed", isinstance(self.seed, int) and self.seed >= 0, f"must be 0 or more (got {self.seed!r})")
        need("prefix", isinstance(self.prefix, str) and len(self.prefix) > 0, "must not be empty")
        need("encoding_errors", self.encoding_errors in ("strict", "replace"), "must be strict or replace")
        return problems

    def first_error(self, ignore: tuple[str, ...] = ()) -> str | None:
        """The first problem as the user's one line (``--hidden must be ...``), or None."""
        for name, reason in self.errors().items():
            if name not in ignore:
                return f"--{name.replace('_', '-')} {reason}"
        return None

    def scratch(self) -> bool:
        return self.model.startswith("scratch-")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
