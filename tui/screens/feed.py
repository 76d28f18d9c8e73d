"""Page 2: the live feed, newest first, with filter and pause."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from tui.formatting import summarize
from tui.screens.base import ConsoleView
from tui.widgets.feed_table import FeedTable

#: What ``t`` cycles through: all, then families of types.
TYPE_FILTERS: tuple[str | None, ...] = (
    None,
    "file.",
    "canonical.",
    "review.",
    "actor.",
    "file.failed",
    "deadletter.",
    "config.",
)


class FeedView(ConsoleView):
    """A paused feed keeps counting (and the dashboard keeps moving); the table
    catches up in one go on resume, so pausing to read never loses anything."""

    TAB = "feed"
    LABEL = "2 Feed"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("t", "cycle_type", "Type"),
        Binding("p", "pause", "Pause"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.paused = False
        self.held = 0
        self.text = ""
        self.type_filter: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="feed-status")
        yield Input(
            placeholder="filter: text in type or summary (enter: apply, esc: clear)",
            id="feed-filter",
        )
        yield FeedTable(id="feed-table")

    def on_mount(self) -> None:
        self.query_one("#feed-filter", Input).display = False
        self._update_status()

    def main_widget(self) -> Widget | None:
        return self.query_one(FeedTable)

    def matches(self, message: dict[str, Any]) -> bool:
        kind = str(message.get("type", ""))
        if self.type_filter and not kind.startswith(self.type_filter):
            return False
        if self.text:
            haystack = " ".join(
                (kind, summarize(message), json.dumps(message.get("data"), ensure_ascii=False))
            ).lower()
            return self.text.lower() in haystack
        return True

    def on_feed(self, messages: list[dict[str, Any]]) -> None:
        if self.paused:
            self.held += len(messages)
        else:
            self.query_one(FeedTable).add_messages(m for m in messages if self.matches(m))
        self._update_status()

    def rebuild(self) -> None:
        table = self.query_one(FeedTable)
        table.rebuild(m for m in self.console.state.feed if self.matches(m))
        self._update_status()

    def _update_status(self) -> None:
        table = self.query_one(FeedTable)
        mode = f"[b yellow]PAUSED[/] ({self.held} new held)" if self.paused else "[b green]live[/]"
        kind = self.type_filter or "all types"
        text = f" · text “{self.text}”" if self.text else ""
        self.query_one("#feed-status", Static).update(
            f"{mode} · {kind}{text} · {table.row_count} shown · p pause · / filter · t type · "
            "enter open"
        )

    def action_filter(self) -> None:
        box = self.query_one("#feed-filter", Input)
        box.display = True
        box.focus()

    def action_cycle_type(self) -> None:
        index = TYPE_FILTERS.index(self.type_filter) if self.type_filter in TYPE_FILTERS else 0
        self.type_filter = TYPE_FILTERS[(index + 1) % len(TYPE_FILTERS)]
        self.rebuild()

    def action_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self.held = 0
            self.rebuild()
        self._update_status()

    def action_clear_filter(self) -> None:
        box = self.query_one("#feed-filter", Input)
        if not (self.text or self.type_filter or box.display):
            return
        box.value = ""
        box.display = False
        self.text, self.type_filter = "", None
        self.rebuild()
        self.query_one(FeedTable).focus()

    @on(Input.Changed, "#feed-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.text = event.value.strip()
        self.rebuild()

    @on(Input.Submitted, "#feed-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.query_one(FeedTable).focus()

    @on(DataTable.RowSelected, "#feed-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        message = self.query_one(FeedTable).selected
        if message is not None:
            self.console.open_message(message)
