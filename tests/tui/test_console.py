"""Behaviour of the console with a fake backend: keys, filters, actions, errors."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.widgets import Static

from eventdedup.client import ConnectionState, RpcError
from tui import demo
from tui.app import ConsoleApp
from tui.fake import FakeBackend
from tui.screens.events import EventsView
from tui.widgets.banner import ConnectionBanner
from tui.widgets.event_detail import reviews_table
from tui.widgets.feed_table import FeedTable
from tui.widgets.review_table import ReviewTable

SIZE = (120, 36)


def app_with(backend: FakeBackend) -> ConsoleApp:
    return ConsoleApp(backend, clock=demo.clock, operator="tui:test", blink=False)


def merged(seq: int) -> dict[str, object]:
    return {
        "seq": seq,
        "type": "canonical.merged",
        "at": demo.NOW.isoformat(),
        "data": {"canonical_id": 1500, "merged": 2950},
    }


@pytest.mark.asyncio
async def test_feed_pause_filter_no_duplicates_and_enter_opens_the_event() -> None:
    backend = demo.demo_backend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        table = app.query_one(FeedTable)
        rows = table.row_count
        backend.push(*demo.FEED[-5:])  # a replay overlap: nothing new
        await pilot.pause()
        assert table.row_count == rows
        await pilot.press("p")
        backend.push(merged(9900))
        await pilot.pause()
        assert table.row_count == rows  # paused: held back
        await pilot.press("p")
        assert table.row_count == rows + 1
        assert table.selected is not None and table.selected["seq"] == 9900
        await pilot.press("slash", *"failed", "enter")
        assert {m["type"] for m in table.messages.values()} == {"file.failed"}
        await pilot.press("escape")
        assert table.row_count == rows + 1
        table.move_cursor(row=0)
        await pilot.press("enter")
        await pilot.pause()
        assert app.active_tab == "events"
        assert ("events.get", {"id": 1500}) in backend.calls
        assert app.query_one(EventsView).detail_id == "1500"


@pytest.mark.asyncio
async def test_review_merge_confirms_sends_and_echoes_the_feed() -> None:
    backend = demo.demo_backend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("m", "n")  # cancelled: nothing sent
        await pilot.pause()
        assert not [c for c in backend.calls if c[0] == "review.merge"]
        await pilot.press("m", "y")
        await pilot.pause()
        assert (
            "review.merge",
            {
                "source_canonical_id": 2950,
                "target_canonical_id": 1500,
                "review_id": 77,
                "operator": "tui:test",
            },
        ) in backend.calls
        backend.push(merged(9901))
        await pilot.pause()
        result = str(app.query_one("#review-result").render())
        assert "review.merge ok" in result and "feed #9901 canonical.merged" in result


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (it may hold any Rich renderable)."""
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.mark.asyncio
async def test_review_shows_probability_signals_moves_and_who_decided() -> None:
    backend = demo.demo_backend()
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        table = app.query_one(ReviewTable)
        assert list(table.items) == ["77", "61", "58"]  # best expected benefit first
        row = " ".join(str(c) for c in table.get_row("77"))
        assert "0.52" in row and "1.04" in row and "merge would join 3 and 2 listings" in row
        compare = plain(app.query_one("#review-compare-body", Static))
        assert "P(same) 0.52" in compare and "signals" in compare and "title 0.86" in compare
        await pilot.press("f")  # decided by resolvers
        await pilot.pause()
        assert ("review.list", {"state": "resolved", "decided_by": "resolver", "size": 100}) in (
            backend.calls
        )
        assert list(table.items) == ["49"]
        assert "resolver:llm" in " ".join(str(c) for c in table.get_row("49"))
        compare = plain(app.query_one("#review-compare-body", Static))
        assert "decided by resolver:llm said same (confidence 0.93)" in compare
        assert "decided by resolvers" in str(app.query_one("#review-status", Static).render())
        await pilot.press("f", "f", "f")  # operators, later files, back to the open queue
        await pilot.pause()
        assert list(table.items) == ["77", "61", "58"]


def test_the_event_page_says_which_resolver_decided_and_why() -> None:
    rendered = reviews_table(demo.DETAIL["reviews"])  # type: ignore[arg-type]
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(rendered)
    text = console.export_text()
    assert "resolver:llm" in text and "0.94" in text and "support act" in text


@pytest.mark.asyncio
async def test_errors_are_shown_and_the_console_keeps_running() -> None:
    health = {"status": "ok", "actors": demo.ACTORS}
    backend = FakeBackend(
        {"health": health, "events.search": RpcError(-32000, "boom")}, demo.FEED, url=demo.URL
    )
    app = app_with(backend)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        # no `status` method: actors from /health, the error on the dashboard
        assert list(app.state.actors) == [a["name"] for a in demo.ACTORS]
        assert "Method not found" in (app.state.status_error or "")
        await pilot.press("3")
        await pilot.pause()
        assert "boom" in str(app.query_one("#events-pager").render())
        backend.set_state(
            ConnectionState(
                demo.URL, False, attempt=1, retry_in=0.2, error="closed 1006", last_seq=9840
            )
        )
        await pilot.pause()
        banner = app.query_one(ConnectionBanner)
        assert banner.display and "resumes after seq 9840" in str(banner.render())
        backend.set_state(ConnectionState(demo.URL, True, last_seq=9840))
        await pilot.pause()
        assert not banner.display


@pytest.mark.asyncio
async def test_command_palette_and_help() -> None:
    app = app_with(demo.demo_backend())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"dead")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.active_tab == "deadletters"
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        assert type(app.screen).__name__ == "Screen"
