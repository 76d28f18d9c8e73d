"""One page of canonical events from ``events.search``."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import human_date, number, shorten

#: column key → (label, the ``sort`` value of events.search, or None if not sortable)
COLUMNS: dict[str, tuple[str, str | None]] = {
    "id": ("id", None),
    "title": ("title", "title"),
    "city": ("city", "city"),
    "date": ("date", "date"),
    "sources": ("src", "source_count"),
    "confidence": ("conf", "confidence"),
    "review": ("rev", None),
}


class EventsTable(DataTable[Any]):
    """Rows keyed by canonical id; the server sorts and pages, this only shows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.items: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for key, (label, _) in COLUMNS.items():
            self.add_column(label, key=key)

    def show(self, items: list[dict[str, Any]]) -> None:
        keep = self.selected_id
        self.clear()
        self.items = {str(i["id"]): i for i in items}
        for item in items:
            dates = human_date({"date": item.get("first_date"), "end_date": item.get("last_date")})
            self.add_row(
                Text(str(item["id"]), justify="right"),
                shorten(item.get("title"), 40),
                item.get("city") or "",
                dates,
                Text(str(item.get("source_count", "")), justify="right"),
                Text(number(item.get("match_confidence")), justify="right"),
                Text("⚑", style="bold yellow") if item.get("needs_review") else "",
                key=str(item["id"]),
            )
        if keep is not None and keep in self.items:
            self.move_cursor(row=self.get_row_index(keep))

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
