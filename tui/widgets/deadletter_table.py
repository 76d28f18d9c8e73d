"""Dead-lettered files with their reasons."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from tui.formatting import shorten


def human_size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


class DeadLetterTable(DataTable[Any]):
    """Rows keyed by file name (unique within the dead-letter folder)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.items: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for name in ("file", "failed at", "size", "reason", "json path"):
            self.add_column(name, key=name)

    def show(self, items: list[dict[str, Any]]) -> None:
        keep = self.selected_file
        self.clear()
        self.items = {str(i["file"]): i for i in items}
        for item in items:
            at = str(item.get("at") or "")[:19].replace("T", " ")
            self.add_row(
                item["file"],
                at,
                Text(human_size(item.get("size")), justify="right"),
                Text(shorten(item.get("reason"), 60), style="red"),
                item.get("json_path") or "",
                key=str(item["file"]),
            )
        if keep is not None and keep in self.items:
            self.move_cursor(row=self.get_row_index(keep))

    def select_file(self, name: str) -> None:
        if name in self.items:
            self.move_cursor(row=self.get_row_index(name))

    @property
    def selected_file(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
