"""The detail pane of one canonical event (``events.get``)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from tui.formatting import human_dates, number, shorten

#: Source fields shown side by side, in this order (others follow).
SOURCE_FIELDS = (
    "source_code",
    "source_type",
    "title",
    "short_description",
    "location_name",
    "location_city",
    "location_street",
    "location_zipcode",
    "dates",
    "categories",
    "file",
)
SCORES = ("date", "geo", "title", "description", "combined")
_SKIP = {"provenance", "id", "data", "description"}


def _cell(value: Any, width: int = 38, key: str = "") -> str:
    if key == "dates":
        return shorten(human_dates(value), width)
    if isinstance(value, list):
        return shorten(", ".join(str(v) for v in value), width)
    return shorten(number(value), width)


def _provenance(value: Any) -> str:
    """Provenance entries may be an id, a ``{source_event_id, …}`` dict or a list."""
    if isinstance(value, dict):
        return str(value.get("source_event_id") or value.get("source") or value.get("id") or value)
    if isinstance(value, list):
        return ", ".join(_provenance(v) for v in value)
    return str(value)


def _section(title: str) -> Table:
    """A titled table of the detail (sources, decisions, reviews); one look for all."""
    return Table(
        title=title, title_justify="left", expand=True, header_style="bold", box=box.SIMPLE_HEAD
    )


def canonical_table(canonical: dict[str, Any]) -> Table:
    provenance = canonical.get("provenance") or {}
    table = Table(
        title=f"canonical {canonical.get('id')}",
        title_justify="left",
        expand=True,
        box=None,
        header_style="bold",
    )
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("value", ratio=3)
    table.add_column("from", style="cyan", ratio=1)
    for key, value in canonical.items():
        if key in _SKIP:
            continue
        table.add_row(
            key, _cell(value, 60, key), _provenance(provenance[key]) if key in provenance else ""
        )
    return table


def sources_table(sources: list[dict[str, Any]]) -> Table:
    table = _section(f"{len(sources)} source events")
    table.add_column("field", style="dim", no_wrap=True)
    for source in sources:
        table.add_column(str(source.get("id")), ratio=1, overflow="fold")
    keys = [k for k in SOURCE_FIELDS if any(k in s for s in sources)]
    keys += sorted({k for s in sources for k in s} - set(keys) - {"id", "description", "raw"})
    for key in keys:
        values = [s.get(key) for s in sources]
        differs = len({repr(v) for v in values}) > 1
        table.add_row(
            Text(key, style="bold yellow" if differs else "dim"),
            *(_cell(v, key=key) for v in values),
        )
    return table


def decisions_table(decisions: list[dict[str, Any]]) -> Table:
    table = _section("pair decisions")
    for name in ("a", "b", *SCORES, "decision", "reason"):
        table.add_column(
            name,
            justify="right" if name in SCORES else "left",
            ratio=3 if name == "reason" else None,
        )
    for d in decisions:
        decision = str(d.get("decision", ""))
        style = "green" if decision == "match" else "red" if decision else ""
        table.add_row(
            str(d.get("a_id")),
            str(d.get("b_id")),
            *(number(d.get(s)) for s in SCORES),
            Text(decision, style=style),
            shorten(d.get("reason"), 60),
        )
    return table


def reviews_table(reviews: list[dict[str, Any]]) -> Table:
    """Review questions about these listings and who answered them (a resolver says why)."""
    table = _section("review decisions")
    for name in ("review", "question", "answer", "decided by", "confidence", "reason"):
        table.add_column(name, ratio=3 if name == "reason" else None)
    for r in reviews:
        resolver = r.get("resolver") or {}
        table.add_row(
            str(r.get("review_id")),
            f"{r.get('kind')} {' ↔ '.join(str(i) for i in r.get('event_ids') or [])}",
            str(r.get("resolution") or ""),
            Text(str(r.get("decided_by") or ""), style="magenta" if resolver else ""),
            number(resolver.get("confidence")),
            shorten(resolver.get("reason"), 60),
        )
    return table


class EventDetail(VerticalScroll):
    """Canonical fields with provenance, sources side by side, pair decisions.

    Sources side by side (not one below the other) because the question an
    operator asks is "which field did which source disagree on"; differing
    rows are highlighted.
    """

    detail: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("Select an event (enter) to see its sources.", id="event-detail-body")

    def show(
        self, detail: dict[str, Any] | None, *, error: str | None = None, loading: str | None = None
    ) -> None:
        body = self.query_one("#event-detail-body", Static)
        self.detail = detail
        if loading:
            body.update(Text(loading, style="dim"))
            return
        if error:
            body.update(Text(error, style="bold red"))
            return
        if not detail:
            body.update(Text("Select an event (enter) to see its sources.", style="dim"))
            return
        parts: list[RenderableType] = []
        if detail.get("redirected_from"):
            parts.append(
                Text(f"{detail['redirected_from']} was merged into this event", style="yellow")
            )
        parts.append(canonical_table(detail.get("canonical") or {}))
        if detail.get("sources"):
            parts.append(sources_table(detail["sources"]))
        if detail.get("decisions"):
            parts.append(decisions_table(detail["decisions"]))
        if detail.get("reviews"):
            parts.append(reviews_table(detail["reviews"]))
        body.update(Group(*parts))
        self.scroll_home(animate=False)
