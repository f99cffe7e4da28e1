"""Modal screens: the key map, and the questions asked before quitting, deleting a run or noting one."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, Static

from rnn_tui.tui.formatting import format_size


def key_map(app: type[App]) -> list[tuple[str, str]]:
    """(keys, what they do) for the app's bindings, then Textual's own for the form and the palette.

    The help screen shows this and a test holds the README's key table to it: the bindings are the one source."""
    rows = [(binding.key.replace(",", " / "), binding.tooltip) for binding in app.BINDINGS
            if binding.tooltip]  # a key's second name (ctrl+t's Resume) is told by its first
    focus = {binding.action: binding.key for binding in Screen.BINDINGS}
    return rows + [(f"{focus['app.focus_next']} / {focus['app.focus_previous']}", "walk the form"),
                   (app.COMMAND_PALETTE_BINDING, "command palette (lists every action)")]


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("rnn-tui keys", classes="dialog-title")
            keys = Table.grid(padding=(0, 2))
            keys.add_column(justify="right", style="bold", no_wrap=True)
            keys.add_column()  # a long description wraps in its own column
            for row in key_map(type(self.app)):
                keys.add_row(*map(Text, row))
            yield Static(keys, id="keys")
            yield Label("escape closes", classes="dialog-hint")


class QuitWhileTraining(ModalScreen[str | None]):
    """Asked when quitting while a run trains: stop it and quit, leave it training and quit, or stay."""
    BINDINGS = [Binding("s", "answer('stop')", "Stop and quit"), Binding("d", "answer('detach')", "Detach"),
                Binding("escape,c", "answer(None)", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Training is running.", classes="dialog-title")
            yield Static("s  stop it (a checkpoint of the last epoch is written) and quit\n"
                         "d  leave it training and quit (rnn-tui attach shows it again)\n"
                         "escape  stay")

    def action_answer(self, answer: str | None) -> None:
        self.dismiss(answer)


class NextRun(ModalScreen[str | None]):
    """Asked by ctrl+r when a run is on screen: train it on from its checkpoint, or start a new one."""
    BINDINGS = [Binding("r", "answer('resume')", "Train on"), Binding("n", "answer('new')", "New run"),
                Binding("escape,c", "answer(None)", "Cancel")]

    def __init__(self, run_name: str, done: int | None, epochs: int, kept: list[str]):
        super().__init__()
        self.run_name, self.done, self.epochs, self.kept = run_name, done, epochs, kept

    def can_resume(self) -> bool:
        return self.done is not None and self.epochs > self.done

    def compose(self) -> ComposeResult:
        if self.done is None:
            train_on = "r  (it left no checkpoint to train on from)"
        elif self.can_resume():
            train_on = f"r  train on from epoch {self.done} to {self.epochs}, in its folder"
        else:
            train_on = f"r  train on: first raise epochs above {self.done} in the form"
        kept = (f"\n   (it keeps its own {', '.join(self.kept)}: only a new run takes the form's)"
                if self.kept else "")
        with Vertical(id="dialog"):
            yield Label(Text(f"ctrl+r: {self.run_name} is on screen."), classes="dialog-title")
            yield Static(Text(f"{train_on}{kept}\nn  a new run with the form's options, in a new folder\n"
                              "escape  neither"))

    def action_answer(self, answer: str | None) -> None:
        if answer == "resume" and not self.can_resume():
            self.app.notify("raise epochs in the form first" if self.done is not None else
                            "no checkpoint to train on from: start a new run (n)", severity="warning")
            return
        self.dismiss(answer)


class ConfirmDelete(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, name: str, size_bytes: int):
        super().__init__()
        self.run_name, self.size_bytes = name, size_bytes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(f"Delete {self.run_name}?"), classes="dialog-title")
            yield Static(f"Its folder ({format_size(self.size_bytes)}: checkpoint, metrics, samples) is removed "
                         "for good.")
            yield Label("y: delete    n / escape: keep it", classes="dialog-hint")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class NoteScreen(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, name: str, note: str):
        super().__init__()
        self.run_name, self.note = name, note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(f"A note on {self.run_name}"), classes="dialog-title")
            yield Input(self.note, id="note-text", max_length=200)
            yield Label("enter keeps it (empty: removes it), escape cancels", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
