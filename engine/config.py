"""``TrainConfig``: every knob of a run, declared once and validated without importing torch.

Each field's ``knob(...)`` (engine/knob.py) is its option everywhere: ``--name`` on the command line
(``-`` for ``_``), a row of the dashboard's form where it has a label, its range and choices in
``errors``, and whether a resumed run may change it. ``None`` for ``preprocess`` / ``max_tokens``
and ``prefix`` means "the corpus's own" (d2l's for The Time Machine, raw text elsewhere), filled in
once the corpus is read (engine/session.py).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields

from rnn_tui.corpora import CorpusError, source_for
from rnn_tui.engine.knob import knob, knob_of, knob_problem, knobs

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
FLOAT32_MAX = 3.4028234663852886e38  # a rate the weights' float32 arithmetic cannot hold is refused, not crashed on
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_EVAL_RE = re.compile(r"^(stateful|windows:(\d{1,7}):(\d{1,7}))$")
MAX_EVAL_WINDOWS = 100_000


@dataclass
class TrainConfig:
    # where the defaults came from (engine/presets.py), for the record; its choices are the presets'
    preset: str | None = knob(None, "Fill the options from a recipe (`rnn-tui presets`); options you give win over it.",
                              label="preset (fills the form)")
    # what to learn from
    corpus: str = knob("python-stdlib", "A named corpus (`rnn-tui corpora`), e.g. markov:order=2,seed=0.",
                       label="corpus (name or path)", shown_default="python-stdlib", metavar="NAME")
    corpus_file: str | None = knob(None, "Train on any UTF-8 text file.", kind="path")
    encoding: str = knob("utf-8", "Encoding of --corpus-file.")
    encoding_errors: str = knob("strict", "replace: undecodable bytes become U+FFFD instead of an error.",
                                choices=("strict", "replace"))
    preprocess: str | None = knob(None, "d2l: letters only, lower case; raw: every character.",
                                  choices=PREPROCESS_MODES, shown_default="the corpus's")
    tokens: str = knob("char", choices=TOKEN_KINDS)
    max_tokens: int | None = knob(None, "Use the first N tokens; 0 = all.", at_least=0, zero="all",
                                  shown_default="the corpus's")
    val_fraction: float = knob(0.1, "Tail of the token stream held out for validation.", at_least=0, below=1)
    min_freq: int = knob(0, "Rarer tokens map to <unk>.", at_least=0)
    max_vocab: int = knob(0, "Cap the vocabulary (<unk> included); 0 = no cap.", at_least=0)
    # the model (defaults: d2l §8.5)
    model: str = knob("scratch-rnn", choices=MODEL_NAMES, label="model")
    hidden: int = knob(512, at_least=1, at_most=65_536, label="hidden size")
    layers: int = knob(1, "Concise models only.", at_least=1, at_most=64, label="layers")
    dropout: float = knob(0.0, "Concise models: on the embedding, between layers and before the output layer.",
                          at_least=0, below=1, label="dropout (concise models)")
    activation: str = knob("tanh", "scratch-rnn only.", choices=ACTIVATIONS)
    path: str = knob("fast", "Scratch models: textbook (one-hot, per-step output) or the equivalent fast path.",
                     choices=SCRATCH_PATHS)
    kernels: str = knob("auto", "What the fast path runs on: auto (the fastest here), or c, onednn, torch where "
                        "they run.", choices=KERNELS, envvar="RNN_TUI_KERNELS", resumable=True)
    input: str = knob("onehot", "Concise models: one-hot inputs (d2l) or a learned embedding.", choices=INPUT_KINDS)
    # the embedding feeds one linear map (the first layer's input product): a width past the vocabulary's
    # size cannot make that product say more, and only costs its time
    embedding_dim: int = knob(0, "--input embedding: the embedding's width; 0 = the hidden size.", at_least=0,
                              at_most=65_536, zero="the hidden size")
    autocast: str = knob("off", "Concise models: bf16 runs the forward in bfloat16 (torch.autocast; weights stay "
                         "float32).", choices=AUTOCAST_MODES, label="autocast (concise models)")
    # optimisation
    batch_size: int = knob(32, at_least=1, at_most=1 << 20, label="batch size")
    num_steps: int = knob(35, at_least=1, at_most=1 << 20, label="steps")
    sampler: str = knob("sequential", choices=SAMPLERS, label="sampler")
    optimizer: str = knob("sgd", choices=OPTIMIZERS, label="optimizer")
    lr: float = knob(1.0, above=0, at_most=FLOAT32_MAX, label="learning rate")
    lr_schedule: str = knob("constant", "Set per minibatch: cosine down to --lr-min; step: × --lr-decay at 1/2 and "
                            "3/4 of the run.", choices=LR_SCHEDULES, label="lr schedule")
    warmup: int = knob(0, "Minibatches of linear warmup to --lr.", at_least=0, label="warmup (minibatches)")
    weight_decay: float = knob(0.0, "adamw: decoupled weight decay; sgd, adam: an L2 penalty.", at_least=0,
                               zero="none", at_most=FLOAT32_MAX, label="weight decay")
    lr_min: float = knob(0.0, "The schedule's floor.", at_least=0)
    lr_decay: float = knob(0.1, "The step schedule's factor.", above=0, reason="must be in (0, 1]", at_most=1)
    epochs: int = knob(500, at_least=1, at_most=10**9, label="epochs", resumable=True)
    max_time: float = knob(0.0, "End at the first minibatch past this much training (30m, 1h30m, 900); a "
                           "schedule is planned over it.", at_least=0, kind="duration", shown_default="none",
                           reason="must be 0 (no limit) or a duration such as 30m or 1h30m",
                           label="time budget (30m; empty = none)", resumable=True)
    patience: int = knob(0, "Stop when validation loss has not improved for N epochs; 0 = never.", at_least=0,
                         label="patience (epochs; 0 = off)", resumable=True)
    eval_every: int = knob(1, "Epochs between validations (the last is always validated).", at_least=1,
                           resumable=True)
    eval: str = knob("stateful", "windows:N:L: also score the held-out text as nanoGPT does, N random windows of L "
                     "characters, the state reset for each (e.g. windows:200:256).", metavar="stateful|windows:N:L",
                     resumable=True)
    clip: float = knob(1.0, "Global-norm clip θ; 0 = off.", at_least=0, zero="off", label="clip θ (0 = off)")
    device: str = knob("auto", "auto|cpu|cuda|cuda:N|mps", label="device", resumable=True)
    nproc: int = knob(1, "Train in N processes (torchrun, DDP; one GPU each on CUDA); --batch-size stays global.",
                      at_least=1, at_most=1024, label="processes (torchrun)", resumable=True)
    seed: int = knob(0, at_least=0, at_most=2**32 - 1, label="seed")
    # samples shown while training (d2l: the first 50 characters after "time traveller")
    prefix: str | None = knob("time traveller", "Prompt for samples.", shown_default="the corpus's, else 'time traveller'",
                       label="prefix", resumable=True)
    sample_every: int = knob(10, "Epochs between samples; 0 = none.", at_least=0, resumable=True)
    sample_length: int = knob(50, at_least=1, at_most=10_000)
    temperature: float = knob(0.0, "0 = greedy.", at_least=0, zero="greedy", label="temperature (0 = greedy)")
    top_k: int = knob(0, "0 = all tokens.", at_least=0)
    # runs
    checkpoint_every: int = knob(1, at_least=1, resumable=True)
    run_dir: str | None = knob(None, kind="path", shown_default="runs/<timestamp>-<model>")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def errors(self) -> dict[str, str]:
        """Field name → reason, for every invalid value (empty when the config is usable): first what each
        field declares (engine/knob.py), then what fields ask of each other."""
        problems: dict[str, str] = {}
        for spec, declared in knobs(TrainConfig):
            value = getattr(self, spec.name)
            reason = knob_problem(spec, declared, value)
            if reason is None and isinstance(value, str) and has_surrogates(value):
                # argv's bytes that are not UTF-8 arrive as lone surrogates: no file could hold them
                reason = f"holds bytes that are not UTF-8 text ({_as_bytes(value)[:60]!r})"
            if reason:
                problems[spec.name] = reason

        def need(name: str, ok: bool, reason: str) -> None:
            if not ok and name not in problems:
                problems[name] = reason

        scratch = isinstance(self.model, str) and self.scratch()
        # the scratch models are the book's single-layer cells: refused, not silently ignored
        need("autocast", self.autocast == "off" or not scratch, "bf16 is for the concise models only (rnn, gru, lstm)")
        need("layers", self.layers == 1 or not scratch, "must be 1 for the scratch models (concise: rnn, gru, lstm)")
        need("dropout", self.dropout == 0 or not scratch, "is for the concise models only (rnn, gru, lstm)")
        need("embedding_dim", self.embedding_dim == 0 or self.input == "embedding", "is for --input embedding only")
        need("max_vocab", "max_vocab" in problems or self.max_vocab == 0 or self.max_vocab >= 2,
             "must be 0 (no cap) or at least 2")
        if "lr" not in problems and "lr_min" not in problems:
            need("lr_min", self.lr_min <= self.lr, f"must not be above --lr {self.lr:g}")
        if "nproc" not in problems and "batch_size" not in problems:
            need("nproc", self.batch_size % self.nproc == 0,
                 f"must divide --batch-size {self.batch_size}: each process trains an equal share of its rows")
        need("patience", self.patience == 0 or "val_fraction" in problems or self.val_fraction > 0,
             "needs a validation split (--val-fraction above 0)")
        need("device", isinstance(self.device, str) and bool(_DEVICE_RE.match(self.device.strip().lower())),
             f"must be auto, cpu, cuda, cuda:N or mps (got {self.device!r})")
        windows = _EVAL_RE.match(self.eval) if isinstance(self.eval, str) else None
        need("eval", windows is not None and (windows.group(2) is None or (
            0 < int(windows.group(2)) <= MAX_EVAL_WINDOWS and int(windows.group(3)) >= 2)),
             f"must be stateful, or windows:N:L with N from 1 to {MAX_EVAL_WINDOWS:,} windows of L ≥ 2 characters "
             f"(got {self.eval!r})")
        need("prefix", isinstance(self.prefix, str) and len(self.prefix) > 0, "must not be empty")
        need("corpus_file", self.corpus_file is None or bool(str(self.corpus_file).strip()),
             "must not be empty (leave it out for --corpus)")
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
        """``first_error`` before the corpus is read: no prefix is the corpus's to fill, not a problem."""
        return self.first_error(ignore=("prefix",) if self.prefix is None else ())

    def eval_windows(self) -> tuple[int, int] | None:
        """(N, L) of ``--eval windows:N:L``, or None for the stateful pass alone."""
        match = _EVAL_RE.match(self.eval)
        return (int(match.group(2)), int(match.group(3))) if match and match.group(2) else None

    def scratch(self) -> bool:
        return self.model.startswith("scratch-")

    def lr_moves(self) -> bool:
        """Whether a schedule or a warmup sets the rate minibatch by minibatch (else it is ``lr`` throughout)."""
        return self.lr_schedule != "constant" or self.warmup > 0


# what a resumed run may change (declared ``resumable``); the rest is its checkpoint's, so that it resumes exactly
RESUME_OVERRIDES = tuple(spec.name for spec in fields(TrainConfig) if knob_of(spec).resumable)


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
