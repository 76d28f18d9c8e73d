"""One feed message in full (Enter on a feed row about a file)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label

from tui.formatting import summarize
from tui.widgets.document import DocumentView


class MessageScreen(ModalScreen[None]):
    """The whole message: a file's rejected-event list does not fit on one row."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,enter", "dismiss", "Close")]

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="message-dialog", classes="dialog"):
            yield Label(
                f"#{self.message.get('seq')} {self.message.get('type')} · {self.message.get('at')}",
                classes="dialog-title",
            )
            yield Label(summarize(self.message), id="message-summary")
            with VerticalScroll():
                yield DocumentView(id="message-body")

    def on_mount(self) -> None:
        self.query_one(DocumentView).show(self.message.get("data"))
