"""``TrainConfig``: every knob of a run, validated without importing torch.

The dashboard's form and the CLI's options both build one of these; the field names are the
CLI option names with ``-`` → ``_``. ``None`` for ``preprocess`` / ``max_tokens`` means "the
corpus's own default" (d2l's for The Time Machine, raw text elsewhere).
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

from rnn_tui.corpora import CorpusError, source_for

MODEL_NAMES = ("scratch-rnn", "scratch-gru", "scratch-lstm", "rnn", "gru", "lstm")
SAMPLERS = ("sequential", "random")
OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "cosine", "step")  # engine/schedule.py
PREPROCESS_MODES = ("d2l", "raw")
TOKEN_KINDS = ("char", "word")
SCRATCH_PATHS = ("fast", "textbook")
ACTIVATIONS = ("tanh", "relu")
INPUT_KINDS = ("onehot", "embedding")
AUTOCAST_MODES = ("off", "bf16")
KERNELS = ("auto", "c", "onednn", "torch")  # engine/kernels: what the fast path's steps run on
UPPER_LIMITS = {"hidden": 65_536, "layers": 64, "batch_size": 1 << 20, "num_steps": 1 << 20, "epochs": 10**9,
                "sample_length": 10_000, "seed": 2**32 - 1, "nproc": 1024}
FLOAT32_MAX = 3.4028234663852886e38  # a rate the weights' float32 arithmetic cannot hold is refused, not crashed on
# what a resumed run may change; everything else comes from its checkpoint, so that it resumes exactly
RESUME_OVERRIDES = ("epochs", "device", "kernels", "sample_every", "checkpoint_every", "prefix", "max_time",
                    "patience", "eval_every", "eval", "nproc")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_EVAL_RE = re.compile(r"^(stateful|windows:(\d{1,7}):(\d{1,7}))$")
MAX_EVAL_WINDOWS = 100_000


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
    weight_decay: float = 0.0   # adamw: decoupled; sgd and adam: an L2 term, as torch.optim has it
    lr_schedule: str = "constant"
    warmup: int = 0             # minibatches of linear warmup
    lr_min: float = 0.0         # the floor that cosine and step decay towards
    lr_decay: float = 0.1       # step: the factor at half and at three quarters of the run
    epochs: int = 500
    max_time: float = 0.0       # seconds of training (and validation) before the run ends; 0 = no limit
    patience: int = 0           # end when validation has not improved for this many epochs; 0 = never
    eval_every: int = 1         # epochs between validations (the last epoch is always validated)
    eval: str = "stateful"      # windows:N:L adds nanoGPT's measure: N random L-character windows, state reset
    clip: float = 1.0
    device: str = "auto"
    nproc: int = 1              # processes under torchrun (engine/distributed.py); --batch-size is global
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
    preset: str | None = None   # engine/presets.py: where the defaults came from, for the record

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
        choice("lr_schedule", LR_SCHEDULES)
        need("autocast", self.autocast == "off" or not self.scratch(),
             "bf16 is for the concise models only (rnn, gru, lstm)")
        if self.preprocess is not None:
            choice("preprocess", PREPROCESS_MODES)
        for name in ("hidden", "layers", "batch_size", "num_steps", "epochs", "sample_length",
                     "checkpoint_every", "eval_every", "nproc"):
            value = getattr(self, name)
            need(name, isinstance(value, int) and value > 0, f"must be a positive integer (got {value!r})")
        for name, most in UPPER_LIMITS.items():  # sizes no machine allocates: refused here, not by the allocator
            value = getattr(self, name)
            need(name, not isinstance(value, int) or value <= most, f"must be at most {most:,} (got {value!r})")
        for name in ("min_freq", "max_vocab", "sample_every", "top_k", "warmup", "patience"):
            value = getattr(self, name)
            need(name, isinstance(value, int) and value >= 0, f"must be 0 or more (got {value!r})")
        if self.max_tokens is not None:
            need("max_tokens", isinstance(self.max_tokens, int) and self.max_tokens >= 0,
                 f"must be 0 (all) or more (got {self.max_tokens!r})")
        need("max_vocab", self.max_vocab == 0 or self.max_vocab >= 2, "must be 0 (no cap) or at least 2")
        need("lr", _finite(self.lr) and 0 < self.lr <= FLOAT32_MAX, f"must be a number above 0 (got {self.lr!r})")
        need("clip", _finite(self.clip) and self.clip >= 0, f"must be 0 (off) or more (got {self.clip!r})")
        need("dropout", _finite(self.dropout) and 0 <= self.dropout < 1, f"must be in [0, 1) (got {self.dropout!r})")
        # the scratch models are the book's single-layer cells: refused, not silently ignored
        need("layers", self.layers == 1 or not self.scratch(), "must be 1 for the scratch models (concise: rnn, gru, lstm)")
        need("dropout", self.dropout == 0 or not self.scratch(), "is for the concise models only (rnn, gru, lstm)")
        need("weight_decay", _finite(self.weight_decay) and 0 <= self.weight_decay <= FLOAT32_MAX,
             f"must be 0 (none) or more (got {self.weight_decay!r})")
        need("lr_min", _finite(self.lr_min) and 0 <= self.lr_min, f"must be 0 or more (got {self.lr_min!r})")
        need("lr_min", not _finite(self.lr) or self.lr_min <= self.lr, f"must not be above --lr {self.lr:g}")
        need("lr_decay", _finite(self.lr_decay) and 0 < self.lr_decay <= 1, f"must be in (0, 1] (got {self.lr_decay!r})")
        need("max_time", _finite(self.max_time) and self.max_time >= 0,
             f"must be 0 (no limit) or a duration such as 30m or 1h30m (got {self.max_time!r})")
        need("nproc", not isinstance(self.nproc, int) or self.nproc < 1 or self.batch_size % self.nproc == 0,
             f"must divide --batch-size {self.batch_size}: each process trains an equal share of its rows")
        need("patience", self.patience == 0 or (_finite(self.val_fraction) and self.val_fraction > 0),
             "needs a validation split (--val-fraction above 0)")
        need("val_fraction", _finite(self.val_fraction) and 0 <= self.val_fraction < 1,
             f"must be in [0, 1) (got {self.val_fraction!r})")
        need("temperature", _finite(self.temperature) and self.temperature >= 0,
             f"must be 0 (greedy) or more (got {self.temperature!r})")
        need("device", isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device.strip().lower())),
             f"must be auto, cpu, cuda, cuda:N or mps (got {self.device!r})")
        need("seed", isinstance(self.seed, int) and self.seed >= 0, f"must be 0 or more (got {self.seed!r})")
        windows = _EVAL_RE.match(self.eval) if isinstance(self.eval, str) else None
        need("eval", windows is not None and (windows.group(2) is None or (
            0 < int(windows.group(2)) <= MAX_EVAL_WINDOWS and int(windows.group(3)) >= 2)),
             f"must be stateful, or windows:N:L with N from 1 to {MAX_EVAL_WINDOWS:,} windows of L ≥ 2 characters "
             f"(got {self.eval!r})")
        need("prefix", isinstance(self.prefix, str) and len(self.prefix) > 0, "must not be empty")
        need("corpus_file", self.corpus_file is None or bool(str(self.corpus_file).strip()),
             "must not be empty (leave it out for --corpus)")
        need("encoding_errors", self.encoding_errors in ("strict", "replace"), "must be strict or replace")
        for spec in fields(self):  # argv's bytes that are not UTF-8 arrive as lone surrogates: no file could hold them
            value = getattr(self, spec.name)
            need(spec.name, not isinstance(value, str) or not has_surrogates(value),
                 f"holds bytes that are not UTF-8 text ({_as_bytes(value)[:60]!r})" if isinstance(value, str) else "")
        if not self.corpus_file:  # the registry checks a name and its options without reading any text
            reason = _corpus_problem(self.corpus)
            need("corpus", reason is None, f"is not usable: {reason}")
        return problems

    def first_error(self, ignore: tuple[str, ...] = ()) -> str | None:
        """The first problem as the user's one line (``--hidden must be ...``), or None."""
        for name, reason in self.errors().items():
            if name not in ignore:
                return f"--{name.replace('_', '-')} {reason}"
        return None

    def first_error_before_corpus(self) -> str | None:
        """``first_error`` before the corpus is read: an empty prefix is the corpus's to fill, not a problem."""
        return self.first_error(ignore=("prefix",) if self.prefix == "" else ())

    def eval_windows(self) -> tuple[int, int] | None:
        """(N, L) of ``--eval windows:N:L``, or None for the stateful pass alone."""
        match = _EVAL_RE.match(self.eval)
        return (int(match.group(2)), int(match.group(3))) if match and match.group(2) else None

    def scratch(self) -> bool:
        return self.model.startswith("scratch-")

    def lr_moves(self) -> bool:
        """Whether a schedule or a warmup sets the rate minibatch by minibatch (else it is ``lr`` throughout)."""
        return self.lr_schedule != "constant" or self.warmup > 0


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate: how Python carries bytes of argv that are not UTF-8."""
    return any("\ud800" <= char <= "\udfff" for char in text)


def _as_bytes(text: str) -> bytes:
    """The bytes ``text`` came from (argv decodes what is not UTF-8 with surrogateescape)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace")


def _corpus_problem(spec) -> str | None:
    """Why ``spec`` names no corpus the registry can load (its options included), or None."""
    if not isinstance(spec, str):
        return f"a corpus is named by text (got {spec!r})"
    try:
        source_for(spec)
    except CorpusError as exc:
        return str(exc)
    return None


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
