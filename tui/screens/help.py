"""``?``: every key of every page, generated from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "colon": ":",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "escape": "esc",
}


def _keys(bindings: list[BindingType]) -> list[tuple[str, str]]:
    rows = []
    for b in bindings:
        if isinstance(b, Binding):
            key, description = b.key, b.description
        else:
            key, description = b[0], b[2] if len(b) > 2 else b[1]
        if description:
            shown = " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in key.split(","))
            rows.append((shown, description))
    return rows


class HelpScreen(ModalScreen[None]):
    """Built from the same BINDINGS the footer shows, so it cannot go stale."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list[BindingType]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right", no_wrap=True)
        table.add_column()
        for title, bindings in self.sections:
            table.add_row("", Text(title, style="bold underline"))
            for key, description in _keys(bindings):
                table.add_row(key, description)
            table.add_row("", "")
        with Vertical(id="help-dialog", classes="dialog"):
            yield Label("Keys", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
