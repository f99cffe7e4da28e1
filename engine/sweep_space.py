"""A sweep's search space: ``lr=loguniform:1e-4:1e-2``, ``hidden=choice:256,512``, or the same from TOML.

Parsed and checked without Optuna or torch, so bad input is one line before any trial starts: a name
that is not an option, a malformed distribution, an empty range, a value the run would refuse (a
dropout for a scratch model, a hidden size of 0) with the other options as given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.knob import value_type
from rnn_tui.engine.errors import InputProblem

KINDS = ("uniform", "loguniform", "int", "intlog", "choice")
NOT_SEARCHED = ("run_dir", "device", "nproc", "resume")  # where a trial runs is the sweep's, not the search's
_FIELD_KINDS = {spec.name: value_type(spec.type) for spec in fields(TrainConfig)}


class SpaceError(InputProblem):
    """A parameter the sweep cannot search, told in one line."""


@dataclass(frozen=True)
class Param:
    """One option searched: a range (``low``..``high``, on a log scale for the log kinds) or ``choices``."""
    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple = ()

    @property
    def spec(self) -> str:
        """How the user writes it: ``lr=loguniform:0.0001:0.01``."""
        if self.kind == "choice":
            return f"{self.name}=choice:{','.join(str(c) for c in self.choices)}"
        return f"{self.name}={self.kind}:{_number(self.low)}:{_number(self.high)}"

    def suggest(self, trial):
        """The value Optuna picks for this trial (``trial``: an ``optuna.Trial``)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind in ("int", "intlog"):
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.kind == "intlog")
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "loguniform")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _field_kind(name: str) -> type:
    """int, float or str: what the option holds (an optional one, what it holds when set)."""
    return _FIELD_KINDS[name]


def _value(name: str, text: str, kind: type):
    try:
        value = kind(text.strip())
    except ValueError:
        raise SpaceError(f"--param {name}: {text.strip()!r} is not a{'n integer' if kind is int else ' number'}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise SpaceError(f"--param {name}: {text.strip()!r} is not a finite number")
    return value


def parse_param(text: str) -> Param:
    """``NAME=KIND:ARGS`` → Param; SpaceError for anything malformed (the option name may use - or _)."""
    name, equals, distribution = text.partition("=")
    name = name.strip().replace("-", "_")
    if not equals or not name:
        raise SpaceError(f"--param {text!r}: write NAME=KIND:ARGS, e.g. lr=loguniform:1e-4:1e-2 or hidden=choice:256,512")
    known = {spec.name for spec in fields(TrainConfig)}
    if name not in known or name in NOT_SEARCHED:
        hint = "" if name in NOT_SEARCHED else "; the options are those of rnn-tui train (lr, hidden, dropout, …)"
        raise SpaceError(f"--param {name}: not an option a sweep can search{hint}")
    kind, _, arguments = distribution.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise SpaceError(f"--param {name}: {kind!r} is not a distribution; use one of {', '.join(KINDS)}")
    field_kind = _field_kind(name)
    if kind == "choice":
        choices = tuple(dict.fromkeys(_value(name, part, field_kind) for part in arguments.split(",") if part.strip()))
        if not choices:
            raise SpaceError(f"--param {name}: choice needs at least one value, e.g. {name}=choice:A,B")
        return Param(name, kind, choices=choices)
    bounds = arguments.split(":")
    if len(bounds) != 2:
        raise SpaceError(f"--param {name}: {kind} takes LOW:HIGH, e.g. {name}={kind}:1:10")
    if field_kind is str:
        raise SpaceError(f"--param {name}: a word option takes choice:A,B, not a range")
    if field_kind is int and kind in ("uniform", "loguniform"):
        raise SpaceError(f"--param {name}: a whole number: use int:LOW:HIGH, intlog:LOW:HIGH or choice:A,B")
    if field_kind is float and kind in ("int", "intlog"):
        raise SpaceError(f"--param {name}: takes any number: use uniform:LOW:HIGH or loguniform:LOW:HIGH")
    low, high = (_value(name, bound, field_kind) for bound in bounds)
    if not low < high:
        raise SpaceError(f"--param {name}: the range {bounds[0].strip()}..{bounds[1].strip()} is empty (LOW must be below HIGH)")
    if kind in ("loguniform", "intlog") and low <= 0:
        raise SpaceError(f"--param {name}: a log scale needs LOW above 0")
    return Param(name, kind, float(low), float(high))


def space_from_toml(path: str) -> list[Param]:
    """``[params]`` of a TOML file: ``lr = "loguniform:1e-4:1e-2"``, or ``lr = {loguniform = [1e-4, 1e-2]}``,
    ``hidden = {choice = [256, 512]}``."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SpaceError(f"--space {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpaceError(f"--space {path}: not TOML ({str(exc).splitlines()[0]})") from None
    table = document.get("params")
    if not isinstance(table, dict) or not table:
        raise SpaceError(f"--space {path}: needs a [params] table, e.g. lr = \"loguniform:1e-4:1e-2\"")
    specs = []
    for name, value in table.items():
        if isinstance(value, str):
            specs.append(f"{name}={value}")
        elif isinstance(value, dict) and len(value) == 1:
            (kind, arguments), = value.items()
            arguments = arguments if isinstance(arguments, list) else [arguments]
            joiner = "," if kind == "choice" else ":"
            specs.append(f"{name}={kind}:{joiner.join(str(a) for a in arguments)}")
        else:
            raise SpaceError(f"--space {path}: {name} must be a string such as \"uniform:0:0.5\" or a table "
                             f"such as {{choice = [256, 512]}}")
    return [parse_param(spec) for spec in specs]


def check_space(space: list[Param], base: TrainConfig) -> None:
    """Refuse a space whose values the run would refuse, each tried with the other options as ``base``
    holds them (a dropout for a scratch model, a hidden size of 0); and a name searched twice."""
    names = [param.name for param in space]
    if not space:
        raise SpaceError("a sweep needs a parameter to search: --param NAME=KIND:ARGS (or --space FILE)")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SpaceError(f"--param {twice[0]} is given twice")
    for param in space:
        tried = param.choices if param.kind == "choice" else (param.low, param.high)
        for value in tried:
            value = int(value) if _field_kind(param.name) is int else value
            problem = replace(base, **{param.name: value}).first_error_before_corpus()
            if problem:
                raise SpaceError(f"--param {param.spec}: with {param.name}={value}, {problem}")
