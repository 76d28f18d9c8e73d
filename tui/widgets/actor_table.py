"""The supervisor tree: one row per actor, updated in place as statuses arrive."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import short_time, shorten, styled_state

COLUMNS = ("actor", "state", "restarts", "policy", "since", "last error")


class ActorTable(DataTable[Any]):
    """Rows keyed by actor name, so a status change rewrites cells, never the table.

    Rebuilding would move the operator's cursor away from the actor they are
    about to restart each time anything changes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)

    def on_mount(self) -> None:
        for name in COLUMNS:
            self.add_column(name, key=name)

    def show(self, actors: dict[str, dict[str, Any]]) -> None:
        names = list(actors)
        if [k.value for k in self.rows] != names[: self.row_count] or self.row_count > len(names):
            keep = self.selected  # actors came or went or were reordered: lay out anew
            self.clear()
        else:
            keep = None
        for index, name in enumerate(names):
            a = actors[name]
            branch = "└─ " if index == len(names) - 1 else "├─ "
            cells = {
                "actor": Text(branch + name),
                "state": styled_state(a.get("state")),
                "restarts": Text(
                    str(a.get("restarts", 0)), style="bold red" if a.get("restarts") else ""
                ),
                "policy": a.get("restart_policy") or "",
                "since": short_time(a.get("since")),
                "last error": Text(shorten(a.get("last_error"), 60), style="red"),
            }
            if name in self.rows:
                for column, value in cells.items():
                    self.update_cell(name, column, value)
            else:
                self.add_row(*cells.values(), key=name)
        if keep in actors:
            self.move_cursor(row=self.get_row_index(keep))

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
