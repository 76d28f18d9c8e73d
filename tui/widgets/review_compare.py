"""The two sides of a review item, field by field."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.formatting import human_dates, number, shorten

FIELDS = (
    "id",
    "canonical_id",
    "source_code",
    "title",
    "short_description",
    "city",
    "location_name",
    "location_city",
    "location_street",
    "dates",
    "categories",
    "file",
)


def _value(value: Any, key: str = "") -> str:
    if key == "dates":
        return human_dates(value)
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return number(value)


class ReviewCompare(VerticalScroll):
    """Field rows, one column per side, differing fields marked.

    The queue row says *that* the engine was unsure; this says *why*, which
    is what the operator needs before pressing m or k.
    """

    def compose(self) -> ComposeResult:
        yield Static("", id="review-compare-body")

    def show(
        self, item: dict[str, Any] | None, sources: dict[str, dict[str, Any]] | None = None
    ) -> None:
        body = self.query_one("#review-compare-body", Static)
        if not item:
            body.update(Text("The review queue is empty.", style="dim"))
            return
        sides = [
            dict(e) | (sources or {}).get(str(e.get("id")), {}) for e in item.get("events") or []
        ]
        table = Table(expand=True, header_style="bold", box=box.SIMPLE_HEAD)
        table.add_column("field", style="dim", no_wrap=True)
        for label, side in zip("AB", sides, strict=False):
            table.add_column(f"{label}: {side.get('id')}", ratio=1, overflow="fold")
        keys = [k for k in FIELDS if any(k in s for s in sides)]
        for key in keys:
            values = [_value(s.get(key), key) for s in sides]
            same = len(set(values)) <= 1
            marker = Text(("  " if same else "≠ ") + key, style="dim" if same else "bold yellow")
            table.add_row(marker, *(shorten(v, 80) for v in values))
        head = Text.assemble(
            (f"review {item.get('id')} ", "bold"),
            (f"{item.get('kind')} ", "cyan"),
            (
                f"P(same) {number(item.get('probability'))}  "
                if item.get("probability") is not None
                else f"uncertainty {number(item.get('uncertainty'))}  ",
                "yellow",
            ),
            (str(item.get("moves") or item.get("reason") or ""), ""),
        )
        lines: list[Any] = [head]
        signals = item.get("signals") or {}
        if signals:
            shown = "  ".join(
                f"{k} {number(signals.get(k))}"
                for k in ("date", "geo", "title", "description", "combined")
                if k in signals
            )
            lines.append(Text(f"signals  {shown}  · {signals.get('reason', '')}", style="dim"))
        resolver = item.get("resolver") or {}
        if resolver or item.get("decided_by"):
            said = (
                f" said {'same' if resolver.get('same') else 'different'} "
                f"(confidence {number(resolver.get('confidence'))}): {resolver.get('reason')}"
                if resolver
                else ""
            )
            lines.append(Text(f"decided by {item.get('decided_by')}{said}", style="magenta"))
        body.update(Group(*lines, table))
