"""Modal screens: the key map, and the question asked before quitting a running training."""
from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEY_MAP = [
    ("ctrl+r", "start training (or resume the --resume run)"),
    ("ctrl+t", "pause / resume"),
    ("ctrl+o", "stop (a checkpoint is written)"),
    ("ctrl+g", "sample now from the prefix and temperature in the form"),
    ("ctrl+s", "save a checkpoint now"),
    ("ctrl+l", "toggle the chart's log scale"),
    ("tab / shift+tab", "walk the form"),
    ("ctrl+p", "command palette"),
    ("f1", "this help"),
    ("ctrl+q", "quit (asks first while training)"),
]


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("rnn-tui keys", classes="dialog-title")
            yield Static("\n".join(f"{key:>16}  {what}" for key, what in KEY_MAP))
            yield Label("escape closes", classes="dialog-hint")


class ConfirmQuit(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Training is running.", classes="dialog-title")
            yield Static("Stop it (a checkpoint of the last epoch is written) and quit?")
            yield Label("y: stop and quit    n: keep training", classes="dialog-hint")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)
