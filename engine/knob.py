"""One option of a run, declared once beside its ``TrainConfig`` field: ``hidden: int = knob(512, ...)``.

The declaration holds what every front end needs — help, choices, range, the form's label, whether
a resumed run may change it — and the rest is generated from it: the click options
(tui/cli/options.py), the form's rows (tui/widgets/config_form.py), the range and choice checks of
``TrainConfig.errors`` and ``RESUME_OVERRIDES``. Pure data: no click, no Textual, no torch.
"""
from __future__ import annotations

from dataclasses import Field, dataclass, field, fields

from rnn_tui.engine.schema import is_number


@dataclass(frozen=True)
class Knob:
    """What a config field is to the user; bounds are inclusive (``at_least``/``at_most``) or strict."""
    help: str = ""
    label: str | None = None                # the form's row (None: command line only)
    choices: tuple[str, ...] | None = None
    at_least: float | None = None
    above: float | None = None
    below: float | None = None
    at_most: float | None = None            # sizes no machine allocates: refused here, not by the allocator
    zero: str | None = None                 # what 0 means, in the reason: "must be 0 (off) or more"
    reason: str | None = None               # the range's reason in words, where the bounds say it badly
    resumable: bool = False                 # a resumed run may change it (else it is the checkpoint's)
    shown_default: str | None = None        # --help's default when the corpus decides it (the option's is None)
    kind: str | None = None                 # "duration" or "path": read as such by the front ends
    envvar: str | None = None
    metavar: str | None = None              # --help's word for the value, where its type's says too little


def knob(default, help: str = "", **declared) -> Field:
    """A dataclass field with its ``Knob`` (``TrainConfig.hidden: int = knob(512, "Hidden units.")``)."""
    return field(default=default, metadata={"knob": Knob(help=help, **declared)})


def knob_of(spec: Field) -> Knob:
    return spec.metadata.get("knob", Knob())


def knobs(config_class) -> list[tuple[Field, Knob]]:
    """Every field of ``config_class`` with its declaration, in declaration order."""
    return [(spec, knob_of(spec)) for spec in fields(config_class)]


def value_kind(annotation) -> str:
    """``int``, ``float``, ``str``: what a field holds when set (``int | None`` → ``int``)."""
    return str(annotation).split("|")[0].strip()


def is_optional(annotation) -> bool:
    """Whether a field may hold None (``int | None``): "the corpus's", or "not given"."""
    return "None" in str(annotation)


def value_type(annotation) -> type:
    """The Python type a field's value is read as: ``int``, ``float`` or ``str``."""
    return {"int": int, "float": float}.get(value_kind(annotation), str)


def knob_problem(spec: Field, declared: Knob, value) -> str | None:
    """Why ``value`` breaks what ``spec`` declares (its type, choices or range), or None."""
    if value is None and is_optional(spec.type):
        return None
    kind = value_kind(spec.type)
    if declared.choices is not None:
        if value not in declared.choices:
            return f"must be one of {', '.join(declared.choices)} (got {value!r})"
        return None
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool) or not _in_range(value, declared):
            return _range_reason(declared, value, whole=True)
    elif kind == "float":
        if not is_number(value) or not _in_range(value, declared):
            return _range_reason(declared, value, whole=False)
    elif kind == "str" and not isinstance(value, str):
        return f"must be text (got {value!r})"
    if declared.at_most is not None and is_number(value) and value > declared.at_most:
        if declared.reason:
            return f"{declared.reason} (got {value!r})"
        return f"must be at most {declared.at_most:,} (got {value!r})" if kind == "int" else \
            f"must be at most {declared.at_most:g} (got {value!r})"
    return None


def _in_range(value, declared: Knob) -> bool:
    return ((declared.at_least is None or value >= declared.at_least)
            and (declared.above is None or value > declared.above)
            and (declared.below is None or value < declared.below))


def _range_reason(declared: Knob, value, whole: bool) -> str:
    if declared.reason:
        return f"{declared.reason} (got {value!r})"
    low = declared.at_least if declared.at_least is not None else declared.above
    zero = f" ({declared.zero})" if declared.zero else ""
    if declared.below is not None:
        opening = "[" if declared.at_least is not None else "("
        return f"must be in {opening}{low:g}, {declared.below:g}) (got {value!r})"
    if whole and declared.at_least == 1:
        return f"must be a positive integer (got {value!r})"
    if declared.above == 0:
        return f"must be a number above 0 (got {value!r})"
    if low == 0:
        return f"must be 0{zero} or more (got {value!r})"
    return f"must be {'an integer' if whole else 'a number'} of at least {low:g} (got {value!r})"
