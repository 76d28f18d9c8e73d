"""The counters strip: the numbers an operator checks first."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

LABELS = {
    "files_processed": "files processed",
    "files_failed": "files failed",
    "events": "events",
    "canonicals": "canonicals",
    "review_open": "review queue",
    "review_per_1000": "open per 1,000 listings",
    "resolver_today": "resolver decisions today",
    "dead_letters": "dead letters",
}

#: Counters that mean "someone should look" when they are not zero.
ALARMING = {"files_failed", "review_open", "dead_letters"}


class CounterPanel(Static):
    """Big numbers in one row; the ones needing attention in colour."""

    def show(self, counters: dict[str, int]) -> None:
        grid = Table.grid(expand=True)
        for _ in LABELS:
            grid.add_column(justify="center", ratio=1)
        values = []
        for key in LABELS:
            value = counters.get(key, 0)
            style = "bold yellow" if key in ALARMING and value else "bold"
            values.append(Text(f"{value:,}", style=style))
        grid.add_row(*values)
        grid.add_row(*(Text(label, style="dim") for label in LABELS.values()))
        self.update(grid)
