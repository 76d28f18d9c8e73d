"""The live feed, newest first, keyed by seq so no message can appear twice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from tui.formatting import short_time, styled_type, summarize


class FeedTable(DataTable[Any]):
    """Rows are keyed by ``seq``: a replayed message that slipped through would
    collide with its key and is skipped instead of shown twice."""

    def __init__(self, limit: int = 1000, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.limit = limit
        self.messages: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        self.add_column("seq", key="seq", width=7)
        self.add_column("time", key="time", width=8)
        self.add_column("type", key="type", width=18)
        self.add_column("what", key="what")

    def _add(self, message: dict[str, Any]) -> bool:
        key = str(message.get("seq", id(message)))
        if key in self.messages:
            return False
        self.messages[key] = message
        self.add_row(
            Text(str(message.get("seq", "")), justify="right"),
            short_time(message.get("at")),
            styled_type(message.get("type", "")),
            summarize(message),
            key=key,
            label=None,
        )
        return True

    def add_messages(self, messages: Iterable[dict[str, Any]]) -> int:
        """Add new messages on top; drop the oldest rows past the limit."""
        added = sum(self._add(m) for m in messages)
        if not added:
            return 0
        self.sort("seq", key=lambda cell: int(cell.plain or 0), reverse=True)
        while self.row_count > self.limit:
            oldest = self.coordinate_to_cell_key(Coordinate(self.row_count - 1, 0))[0]
            self.remove_row(oldest)
            self.messages.pop(str(oldest.value), None)
        return added

    def rebuild(self, messages: Iterable[dict[str, Any]]) -> None:
        self.clear()
        self.messages.clear()
        self.add_messages(messages)
        if self.row_count:
            self.move_cursor(row=0)

    @property
    def selected(self) -> dict[str, Any] | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return self.messages.get(str(key.value))
