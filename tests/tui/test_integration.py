"""The console against a real daemon (in a thread) over a real websocket.

Each test runs the Textual app with the production backend
(:class:`tui.backend.ThreadedBackend`: the trio DaemonClient in its own
thread) and drives it with the Pilot, as an operator would.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console
from textual.widgets import Static

from eventdedup.config import Settings
from tests._support.auth import admin_token
from tests._support.db import scalar
from tests._support.wait import pilot_wait_until
from tests.daemon.harness import drop_file
from tests.tui.helpers import DaemonThread
from tui.app import ConsoleApp
from tui.backend import ThreadedBackend
from tui.formatting import human_date
from tui.screens.events import EventsView
from tui.widgets.actor_table import ActorTable
from tui.widgets.banner import ConnectionBanner
from tui.widgets.event_detail import EventDetail
from tui.widgets.events_table import EventsTable
from tui.widgets.feed_table import FeedTable
from tui.widgets.review_table import ReviewTable

SIZE = (120, 36)


def console(settings: Settings, **backend: float) -> ConsoleApp:
    url = f"ws://127.0.0.1:{settings.http_port}/ws"
    options = {"request_timeout": 5.0, "backoff_initial": 0.1, "backoff_max": 0.5} | backend
    return ConsoleApp(
        ThreadedBackend(url, admin_token(settings), **options),
        blink=False,
        operator="tui:test",
        status_interval=2.0,
    )


def rendered_text(renderable: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def processed(app: ConsoleApp) -> list[str]:
    return [m["data"]["file"] for m in app.state.feed if m["type"] == "file.processed"]


@pytest.mark.asyncio
async def test_dashboard_actors_and_live_feed(
    daemon_thread: DaemonThread, corpus_files: list[Path]
) -> None:
    settings = daemon_thread.settings
    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        actors = app.query_one(ActorTable)
        await pilot_wait_until(
            pilot,
            lambda: (
                {"http", "migrator", "feed", "processor", "watcher"}
                <= {k.value for k in actors.rows}
            ),
            what="the five actors",
        )
        # the `status` RPC answered (so the token was accepted)
        await pilot_wait_until(pilot, lambda: app.state.status_at is not None, what="status")
        await pilot.press("2")
        drop_file(corpus_files[0], settings.event_data_dir)
        await pilot_wait_until(
            pilot,
            lambda: corpus_files[0].name in processed(app),
            within=30,
            what="file.processed in the feed",
        )
        table = app.query_one(FeedTable)
        await pilot_wait_until(
            pilot,
            lambda: any(m["type"] == "file.processed" for m in table.messages.values()),
            what="a file.processed row",
        )


@pytest.mark.asyncio
async def test_search_finds_an_event_and_shows_its_sources(
    daemon_thread: DaemonThread,
    corpus_files: list[Path],
    migrated_engine: sa.Engine,
) -> None:
    settings = daemon_thread.settings
    drop_file(corpus_files[0], settings.event_data_dir)
    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot_wait_until(
            pilot,
            lambda: scalar(migrated_engine, "SELECT count(*) FROM canonical_events") > 0,
            within=30,
            what="canonical events in the database",
        )
        title = scalar(
            migrated_engine,
            "SELECT title FROM canonical_events ORDER BY source_count DESC, id LIMIT 1",
        )
        word = max(title.split(), key=len)
        await pilot.press("3", "slash", *word, "enter")
        table = app.query_one(EventsTable)
        await pilot_wait_until(
            pilot,
            lambda: any(i["title"] == title for i in table.items.values()),
            what=f"search result {title!r}",
        )
        target = next(k for k, i in table.items.items() if i["title"] == title)
        table.move_cursor(row=table.get_row_index(target))
        await pilot.press("enter")
        view = app.query_one(EventsView)
        await pilot_wait_until(pilot, lambda: view.detail_id == target, what="the detail pane")
        pane = app.query_one(EventDetail)
        await pilot_wait_until(pilot, lambda: pane.detail is not None, what="the detail")
        assert pane.detail is not None
        with migrated_engine.connect() as conn:
            members = set(
                conn.execute(
                    sa.text("SELECT id FROM source_events WHERE canonical_id = :c"),
                    {"c": int(target)},
                ).scalars()
            )
        assert {s["id"] for s in pane.detail["sources"]} == members
        # dates read as people read them, not as the JSON the daemon sends
        shown = rendered_text(pane.query_one("#event-detail-body", Static).content)
        first = pane.detail["sources"][0]["dates"][0]
        assert human_date(first) in shown
        assert "{'date'" not in shown and "'start_time'" not in shown


@pytest.mark.asyncio
async def test_merge_from_the_review_screen(
    daemon_thread: DaemonThread, corpus_files: list[Path], migrated_engine: sa.Engine
) -> None:
    settings = daemon_thread.settings
    drop_file(corpus_files[0], settings.event_data_dir)
    app = console(settings)
    async with app.run_test(size=SIZE) as pilot:
        await pilot_wait_until(pilot, lambda: processed(app), within=30, what="the first file")
        # a review item the operator will merge: two source events of different canonicals
        with migrated_engine.begin() as conn:
            a, b = conn.execute(
                sa.text(
                    "SELECT DISTINCT ON (canonical_id) id FROM source_events "
                    "WHERE canonical_id IS NOT NULL ORDER BY canonical_id, id LIMIT 2"
                )
            ).scalars()
            a, b = sorted((a, b))
            conn.execute(
                sa.text(
                    "INSERT INTO review_items (kind, a_id, b_id, uncertainty, reason, data) "
                    "VALUES ('uncertain_pair', :a, :b, 0.5, 'tui test', '{}')"
                ),
                {"a": a, "b": b},
            )
        await pilot.press("4")
        table = app.query_one(ReviewTable)
        await pilot_wait_until(
            pilot,
            lambda: any(i.get("reason") == "tui test" for i in table.items.values()),
            what="the review item",
        )
        key = next(k for k, i in table.items.items() if i.get("reason") == "tui test")
        table.move_cursor(row=table.get_row_index(key))
        await pilot.press("m")
        await pilot.pause()
        await pilot.press("y")
        await pilot_wait_until(
            pilot,
            lambda: any(m["type"] == "canonical.merged" for m in app.state.feed),
            what="canonical.merged in the feed",
        )
        assert (
            scalar(
                migrated_engine,
                "SELECT count(DISTINCT canonical_id) FROM source_events WHERE id IN (:a, :b)",
                a=a,
                b=b,
            )
            == 1
        )
        await pilot_wait_until(
            pilot,
            lambda: "canonical.merged" in str(app.query_one("#review-result").render()),
            what="the result line",
        )


@pytest.mark.asyncio
async def test_daemon_restart_shows_banner_and_resumes_without_duplicates(
    tui_settings: Settings, corpus_files: list[Path]
) -> None:
    first = DaemonThread(tui_settings).start()
    second: DaemonThread | None = None
    app = console(tui_settings)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            drop_file(corpus_files[0], tui_settings.event_data_dir)
            await pilot_wait_until(pilot, lambda: processed(app), within=30, what="the first file")
            first.stop()
            banner = app.query_one(ConnectionBanner)
            await pilot_wait_until(pilot, lambda: banner.display, what="the banner")
            assert "Disconnected" in str(banner.render())
            drop_file(corpus_files[1], tui_settings.event_data_dir)  # waits in the inbox
            second = DaemonThread(tui_settings).start()
            await pilot_wait_until(pilot, lambda: not banner.display, what="the reconnection")
            await pilot_wait_until(
                pilot,
                lambda: len(processed(app)) == 2,
                within=30,
                what="the second file after the restart",
            )
            await pilot.pause(0.5)
            seqs = [m["seq"] for m in app.state.feed]
            assert len(seqs) == len(set(seqs)), "a feed message was shown twice"
            assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a gap in the feed"
            table = app.query_one(FeedTable)
            assert sorted(int(k) for k in table.messages) == seqs
            assert processed(app) == [corpus_files[0].name, corpus_files[1].name]
    finally:
        first.stop()
        if second is not None:
            second.stop()
