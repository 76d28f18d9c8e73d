"""Page 3: canonical events, searched and paged by the daemon, with a detail pane."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import DataTable, Input, Static

from eventdedup.client import ClientError
from tui.screens.base import ConsoleView
from tui.widgets.event_detail import EventDetail
from tui.widgets.events_table import COLUMNS, EventsTable

SORTS = ("date", "title", "city", "source_count", "confidence", "updated")


class EventsView(ConsoleView):
    """Search runs on the server (``events.search``): the console never holds
    more than one page, whatever the size of the database."""

    TAB = "events"
    LABEL = "3 Events"
    WATCHES = (
        "canonical.created",
        "canonical.updated",
        "canonical.merged",
        "canonical.removed",
        "canonical.split",
    )
    RELOAD_DELAY = 2.0  # a busy feed must not keep the table jumping under the cursor
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("right_square_bracket", "page(1)", "Next page", key_display="]"),
        Binding("left_square_bracket", "page(-1)", "Prev page", key_display="["),
        Binding("o", "cycle_sort", "Sort"),
        Binding("O", "flip_order", "Order", key_display="O"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query_text = ""
        self.page = 1
        self.page_size = 25
        self.sort = "date"
        self.order = "asc"
        self.total: int | None = None
        self.detail_id: str | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="events-bar"):
            yield Input(placeholder="search events (enter) — title, city, …", id="events-q")
            yield Static("", id="events-pager")
        yield EventsTable(id="events-table")
        yield EventDetail(id="event-detail")

    def main_widget(self) -> Widget | None:
        return self.query_one(EventsTable)

    def on_mount(self) -> None:
        self._update_pager()

    def _update_pager(self, note: str = "") -> None:
        pages = max(1, -(-(self.total or 0) // self.page_size))
        total = "…" if self.total is None else str(self.total)
        arrow = "↑" if self.order == "asc" else "↓"
        text = f"page {self.page}/{pages} · {total} events · sort {self.sort} {arrow}"
        if self.error:
            text += f" · [b red]{self.error}[/]"
        if note:
            text += f" · {note}"
        self.query_one("#events-pager", Static).update(text)

    def reload(self) -> None:
        super().reload()
        self.search()

    @work(exclusive=True, group="events-search")
    async def search(self) -> None:
        params: dict[str, Any] = {
            "sort": self.sort,
            "order": self.order,
            "page": self.page,
            "size": self.page_size,
        }
        if self.query_text:
            params["q"] = self.query_text
        self._update_pager("loading…")
        try:
            result = await self.console.rpc("events.search", params)
        except ClientError as exc:
            self.error = f"events.search: {exc}"
            self._update_pager()
            self.console.report_error("events.search", exc, quiet=True)
            return
        self.error = None
        self.total = int(result.get("total") or 0)
        table = self.query_one(EventsTable)
        table.show(list(result.get("items") or []))
        self._update_pager()
        if self.detail_id is None and table.selected_id is not None:
            self.load_detail(table.selected_id)

    @work(exclusive=True, group="events-detail")
    async def load_detail(self, event_id: str) -> None:
        """On enter, not on every cursor move: scrolling a page costs no requests."""
        pane = self.query_one(EventDetail)
        pane.show(None, loading=f"loading event {event_id}…")
        try:
            detail = await self.console.rpc("events.get", {"id": _id(event_id)})
        except ClientError as exc:
            pane.show(None, error=f"events.get {event_id}: {exc}")
            return
        self.detail_id = str((detail.get("canonical") or {}).get("id", event_id))
        pane.show(detail)

    def open_event(self, event_id: Any) -> None:
        self.detail_id = str(event_id)
        self.load_detail(str(event_id))

    @on(Input.Submitted, "#events-q")
    def _submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value.strip()
        self.page = 1
        self.detail_id = None
        self.search()
        self.query_one(EventsTable).focus()

    @on(DataTable.RowSelected, "#events-table")
    def _selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.load_detail(event.row_key.value)

    @on(DataTable.HeaderSelected, "#events-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        sort = COLUMNS.get(str(event.column_key.value), ("", None))[1]
        if sort is None:
            return
        if sort == self.sort:
            self.order = "desc" if self.order == "asc" else "asc"
        self.sort = sort
        self.page = 1
        self.search()

    def action_search(self) -> None:
        self.query_one("#events-q", Input).focus()

    def action_page(self, delta: int) -> None:
        pages = max(1, -(-(self.total or 0) // self.page_size))
        page = min(pages, max(1, self.page + delta))
        if page != self.page:
            self.page = page
            self.search()

    def action_cycle_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self.page = 1
        self.search()

    def action_flip_order(self) -> None:
        self.order = "desc" if self.order == "asc" else "asc"
        self.search()


def _id(value: str) -> int | str:
    """Canonical ids are integers on the wire; keep anything else as given."""
    return int(value) if value.isdigit() else value
