"""The review queue, best expected benefit first (the server's order)."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import shorten


def probability_bar(value: Any, width: int = 8) -> Text:
    """P(same event) as a bar: near 0.5 is a coin toss, the colour says which way it leans."""
    if not isinstance(value, int | float):
        return Text("–", style="dim")
    p = float(value)
    filled = round(min(1.0, max(0.0, p)) * width)
    style = "green" if p >= 0.7 else "yellow" if p >= 0.4 else "red"
    return Text(f"{p:.2f} ", style=style) + Text("█" * filled + "·" * (width - filled), style=style)


def uncertainty_bar(value: Any, width: int = 8) -> Text:
    """Kept for items raised before probabilities existed: 0.5 is a coin toss."""
    u = float(value) if isinstance(value, int | float) else 0.0
    filled = round(min(1.0, max(0.0, u / 0.5)) * width)
    style = "bold red" if u >= 0.4 else "yellow" if u >= 0.25 else "green"
    return Text(f"{u:.2f} ", style=style) + Text("█" * filled + "·" * (width - filled), style=style)


def _benefit(item: dict[str, Any]) -> float:
    value = item.get("benefit")
    return float(value) if isinstance(value, int | float) else -1.0


class ReviewTable(DataTable[Any]):
    """Rows keyed by review id; kept in expected-benefit order whatever the server sends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.items: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        self.add_column("id", key="id")
        self.add_column("P(same)", key="probability")
        self.add_column("benefit", key="benefit")
        self.add_column("question", key="kind")
        self.add_column("an answer moves", key="moves")
        self.add_column("decided by", key="decided_by")
        self.add_column("events", key="events")

    def show(self, items: list[dict[str, Any]]) -> None:
        keep = self.selected_id
        self.clear()
        ordered = sorted(items, key=lambda i: (-_benefit(i), -float(i.get("uncertainty") or 0)))
        self.items = {str(i["id"]): i for i in ordered}
        for item in ordered:
            events = " ↔ ".join(str(e) for e in item.get("event_ids") or [])
            benefit = item.get("benefit")
            shown = f"{benefit:.2f}" if isinstance(benefit, int | float) else "–"
            self.add_row(
                Text(str(item["id"]), justify="right"),
                probability_bar(item.get("probability"))
                if item.get("probability") is not None
                else uncertainty_bar(item.get("uncertainty")),
                Text(shown, justify="right"),
                item.get("kind") or "",
                shorten(item.get("moves") or item.get("reason"), 36),
                shorten(item.get("decided_by") or "", 20),
                shorten(events, 40),
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
