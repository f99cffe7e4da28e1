"""The hyperparameter form: a row per option declared with a label (engine/knob.py), every field
validated inline by ``TrainConfig.errors``; a preset fills it."""
from __future__ import annotations

from dataclasses import Field

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Label, Select, Static

from rnn_tui.engine.config import TrainConfig
from rnn_tui.engine.knob import Knob, is_optional, knobs, value_kind, value_type
from rnn_tui.engine.presets import PRESETS, preset_values
from rnn_tui.engine.schedule import format_duration, parse_duration

NO_PRESET = "(none)"


def form_rows() -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(config field, label, choices or None for free text): the fields declared with a form label."""
    rows = []
    for spec, declared in knobs(TrainConfig):
        if declared.label:
            choices = (NO_PRESET, *PRESETS) if spec.name == "preset" else declared.choices
            rows.append((spec.name, declared.label, choices))
    return rows


FIELDS = form_rows()
_KNOBS = {spec.name: (spec, declared) for spec, declared in knobs(TrainConfig)}


class ConfigForm(VerticalScroll):
    def __init__(self, config: TrainConfig, **kwargs):
        super().__init__(**kwargs)
        self.base = config

    def compose(self) -> ComposeResult:
        for name, label, choices in FIELDS:
            yield Label(label, classes="field-label")
            value = self._initial(name)
            if choices:
                yield Select([(c, c) for c in choices], value=value, allow_blank=False, id=f"field-{name}",
                             compact=True)
            else:
                yield Input(str(value), id=f"field-{name}", compact=True)
            yield Static("", id=f"error-{name}", classes="field-error")

    def _initial(self, name: str):
        if name == "corpus":
            return self.base.corpus_file or self.base.corpus
        if name == "preset":
            return self.base.preset if self.base.preset in PRESETS else NO_PRESET
        if _KNOBS[name][1].kind == "duration":
            value = getattr(self.base, name)
            return format_duration(value) if value else ""
        value = getattr(self.base, name)
        return "" if value is None else value

    def read(self) -> tuple[TrainConfig, dict[str, str]]:
        """The config the form describes, and field → reason for every invalid value (marked inline)."""
        config = TrainConfig.from_dict(self.base.to_dict())
        problems: dict[str, str] = {}
        for name, _label, choices in FIELDS:
            widget = self.query_one(f"#field-{name}")
            raw = widget.value if choices or name == "prefix" else widget.value.strip()  # "the " ends in a space
            if name == "corpus":
                is_file = "/" in raw or raw.endswith(".txt")
                config.corpus_file, config.corpus = (raw, config.corpus) if is_file else (None, raw)
                if not raw:
                    problems[name] = "must not be empty"
                continue
            if name == "preset":
                config.preset = None if raw == NO_PRESET else raw
                continue
            try:
                setattr(config, name, _parse(raw, *_KNOBS[name]))
            except ValueError:
                problems[name] = _parse_failure(*_KNOBS[name])
        for name, reason in config.errors().items():
            if not (name == "prefix" and config.prefix is None):  # the corpus's prompt, once it is read
                problems.setdefault(name, reason)
        for name, _label, _choices in FIELDS:
            error = self.query_one(f"#error-{name}", Static)
            error.update(Text(problems.get(name, "")))  # a reason quotes what was typed: never markup
            error.set_class(name in problems, "-visible")
            self.query_one(f"#field-{name}").set_class(name in problems, "-invalid")
        return config, problems

    def load(self, config: TrainConfig) -> None:
        """Show ``config`` (a run's own, when the dashboard follows one)."""
        self.base = config
        for name, _label, choices in FIELDS:
            value = self._initial(name)
            self.query_one(f"#field-{name}").value = value if choices else str(value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "field-preset" and event.value in PRESETS and event.value != self.base.preset:
            self.load(TrainConfig.from_dict({**self.base.to_dict(), "corpus_file": None, **preset_values(event.value)}))

    def set_enabled(self, enabled: bool) -> None:
        for widget in self.query("Input, Select"):
            widget.disabled = not enabled


def _parse(raw: str, spec: Field, declared: Knob):
    if declared.kind == "duration":
        return parse_duration(raw) if raw else 0.0
    if raw == "" and is_optional(spec.type):
        return None  # left empty: the corpus's (a prefix), as when the option is not given
    return value_type(spec.type)(raw)


def _parse_failure(spec: Field, declared: Knob) -> str:
    if declared.kind == "duration":
        return "must be a duration such as 30m or 1h30m"
    return f"must be a {_KIND_WORDS.get(value_kind(spec.type), 'text')}"


_KIND_WORDS = {"int": "whole number", "float": "number"}
