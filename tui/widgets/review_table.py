"""The review queue, most uncertain first."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import shorten


def uncertainty_bar(value: Any, width: int = 8) -> Text:
    """A bar makes "which one first" readable at a glance; 0.5 is a coin toss."""
    u = float(value) if isinstance(value, int | float) else 0.0
    filled = round(min(1.0, max(0.0, u / 0.5)) * width)
    style = "bold red" if u >= 0.4 else "yellow" if u >= 0.25 else "green"
    return Text(f"{u:.2f} ", style=style) + Text("█" * filled + "·" * (width - filled), style=style)


class ReviewTable(DataTable[Any]):
    """Rows keyed by review id; kept sorted by uncertainty whatever the server sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.items: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        self.add_column("id", key="id")
        self.add_column("uncertainty", key="uncertainty")
        self.add_column("kind", key="kind")
        self.add_column("events", key="events")
        self.add_column("reason", key="reason")

    def show(self, items: list[dict[str, Any]]) -> None:
        keep = self.selected_id
        self.clear()
        ordered = sorted(items, key=lambda i: -float(i.get("uncertainty") or 0))
        self.items = {str(i["id"]): i for i in ordered}
        for item in ordered:
            events = " ↔ ".join(str(e) for e in item.get("event_ids") or [])
            self.add_row(
                Text(str(item["id"]), justify="right"),
                uncertainty_bar(item.get("uncertainty")),
                item.get("kind") or "",
                events,
                shorten(item.get("reason"), 50),
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

    @property
    def selected(self) -> dict[str, Any] | None:
        key = self.selected_id
        return self.items.get(key) if key is not None else None
