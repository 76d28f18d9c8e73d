"""Page 4: the review queue and the operator's verdicts."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from eventdedup.client import ClientError
from tui.formatting import summarize
from tui.screens.base import ConsoleView
from tui.screens.confirm import ConfirmScreen
from tui.widgets.review_compare import ReviewCompare
from tui.widgets.review_table import ReviewTable

#: Feed types that report the effect of a review action.
RESULT_TYPES = (
    "canonical.merged",
    "canonical.split",
    "canonical.updated",
    "canonical.created",
    "canonical.removed",
    "review.resolved",
)


def plan(
    op: str, item: dict[str, Any] | None, operator: str
) -> tuple[str, dict[str, Any], str] | None:
    """The RPC for an operator action on ``item``: (method, params, what it will do).

    ``None`` when the action makes no sense for this item (said in a toast).
    Side A is the first event of the item, side B the second: merge moves B's
    canonical into A's; split takes B's source event out of its canonical.
    """
    if op == "undo":
        # on an item a resolver decided, undo is that resolver's (its last decision)
        decider = str((item or {}).get("decided_by") or "")
        if decider.startswith("resolver:"):
            operator = decider
        return (
            "review.undo",
            {"operator": operator},
            f"Undo the last review action of operator [b]{operator}[/b].",
        )
    if item is None:
        return None
    events = item.get("events") or []
    rid = item.get("id")
    a, b = [*events, {}, {}][:2]
    if op == "merge":
        if not a.get("canonical_id") or not b.get("canonical_id"):
            return None
        return (
            "review.merge",
            {
                "source_canonical_id": b["canonical_id"],
                "target_canonical_id": a["canonical_id"],
                "review_id": rid,
                "operator": operator,
            },
            f"Merge canonical [b]{b['canonical_id']}[/b] ({b.get('title')}) into "
            f"[b]{a['canonical_id']}[/b] ({a.get('title')}) and resolve review {rid}.",
        )
    if op == "keep":
        params: dict[str, Any] = {"review_id": rid, "operator": operator}
        if a.get("id") and b.get("id"):
            params |= {"a_id": a["id"], "b_id": b["id"]}
        return (
            "review.keep_separate",
            params,
            f"Keep [b]{a.get('id')}[/b] and [b]{b.get('id')}[/b] in separate events "
            f"(never merge them) and resolve review {rid}.",
        )
    if op == "split":
        if not b.get("canonical_id") or not b.get("id"):
            return None
        return (
            "review.split",
            {
                "canonical_id": b["canonical_id"],
                "source_event_id": b["id"],
                "review_id": rid,
                "operator": operator,
            },
            f"Split source event [b]{b['id']}[/b] off canonical [b]{b['canonical_id']}[/b] "
            f"into a new canonical event.",
        )
    if op == "dismiss":
        return (
            "review.dismiss",
            {"review_id": rid, "operator": operator},
            f"Dismiss review {rid} without changing any event.",
        )
    return None


class ReviewView(ConsoleView):
    """Each verdict is confirmed, sent, and then confirmed again by the feed:
    the RPC result says the daemon accepted it, the feed says what it did."""

    TAB = "review"
    LABEL = "4 Review"
    WATCHES = (
        "review.flagged",
        "review.resolved",
        "review.resolver",
        "canonical.merged",
        "canonical.split",
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("m", "act('merge')", "Merge"),
        Binding("k", "act('keep')", "Keep separate"),
        Binding("s", "act('split')", "Split"),
        Binding("d", "act('dismiss')", "Dismiss"),
        Binding("u", "act('undo')", "Undo"),
        Binding("f", "cycle_filter", "Decided by"),
    ]

    #: What the page lists, in the order ``f`` cycles through: (label, review.list params).
    VIEWS: ClassVar[list[tuple[str, dict[str, Any]]]] = [
        ("open · best expected benefit first", {"state": "open"}),
        ("decided by resolvers", {"state": "resolved", "decided_by": "resolver"}),
        ("decided by operators", {"state": "resolved", "decided_by": "operator"}),
        ("settled by later files", {"state": "resolved", "decided_by": "file"}),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources: dict[str, dict[str, Any]] = {}
        self.awaiting: str | None = None
        self.result_lines: list[str] = []
        self.view = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="review-status")
        yield ReviewTable(id="review-table")
        yield ReviewCompare(id="review-compare")
        yield Static("", id="review-result")

    def main_widget(self) -> Widget | None:
        return self.query_one(ReviewTable)

    def reload(self) -> None:
        super().reload()
        self.load()

    @work(exclusive=True, group="review-list")
    async def load(self) -> None:
        status = self.query_one("#review-status", Static)
        try:
            label, params = self.VIEWS[self.view]
            result = await self.console.rpc("review.list", {**params, "size": 100})
        except ClientError as exc:
            status.update(f"[b red]review.list: {exc}[/]")
            self.console.report_error("review.list", exc, quiet=True)
            return
        items = list(result.get("items") or [])
        total = result.get("total", len(items))
        status.update(
            f"{total} {label} · m merge · k keep separate · s split · d dismiss · u undo · "
            "f decided by"
        )
        table = self.query_one(ReviewTable)
        table.show(items)
        self._show_selected()

    def _show_selected(self, delay: float = 0.0) -> None:
        item = self.query_one(ReviewTable).selected
        self.query_one(ReviewCompare).show(item, self.sources)
        if item is not None:
            self.enrich(item, delay)

    @work(exclusive=True, group="review-enrich")
    async def enrich(self, item: dict[str, Any], delay: float) -> None:
        """Fill in every field of both sides from ``events.get`` of their canonicals."""
        if delay:
            await asyncio.sleep(delay)
        wanted = [e for e in item.get("events") or [] if str(e.get("id")) not in self.sources]
        for canonical_id in dict.fromkeys(e.get("canonical_id") for e in wanted):
            if canonical_id is None:
                continue
            try:
                detail = await self.console.rpc("events.get", {"id": canonical_id})
            except ClientError:
                continue  # the short form from review.list is still shown
            for source in detail.get("sources") or []:
                self.sources[str(source.get("id"))] = source
        if self.query_one(ReviewTable).selected is item:
            self.query_one(ReviewCompare).show(item, self.sources)

    @on(DataTable.RowHighlighted, "#review-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_selected(delay=0.2)

    def action_cycle_filter(self) -> None:
        self.view = (self.view + 1) % len(self.VIEWS)
        self.load()

    def action_act(self, op: str) -> None:
        item = self.query_one(ReviewTable).selected
        planned = plan(op, item, self.console.operator)
        if planned is None:
            self.app.notify(f"{op}: not possible for this item", severity="warning")
            return
        method, params, description = planned

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._send(method, params), group="review-action")

        self.app.push_screen(ConfirmScreen(method, description, confirm=op.capitalize()), confirmed)

    async def _send(self, method: str, params: dict[str, Any]) -> None:
        self._result(f"{method} … sent")
        try:
            result = await self.console.rpc(method, params)
        except ClientError as exc:
            self._result(f"[b red]{method} failed: {exc}[/]")
            self.console.report_error(method, exc)
            return
        shown = ", ".join(f"{k}={v}" for k, v in (result or {}).items())
        self._result(f"[b green]{method} ok[/] {shown} · waiting for the feed…")
        self.awaiting = method
        self.sources.clear()
        self.stale = True
        self._schedule_reload()

    def _result(self, line: str) -> None:
        self.result_lines = [*self.result_lines, line][-4:]
        self.query_one("#review-result", Static).update("\n".join(self.result_lines))

    def on_feed(self, messages: list[dict[str, Any]]) -> None:
        if self.awaiting:
            for m in messages:
                if m.get("type") in RESULT_TYPES:
                    self._result(f"feed #{m.get('seq')} {m.get('type')}: {summarize(m)}")
        super().on_feed(messages)
