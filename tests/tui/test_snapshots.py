"""SVG snapshots of every page, rendered from the canned demo data (no network).

Deterministic by construction: a fake backend answering synchronously, a fixed
clock, no cursor blink, no animations.  Update after an intended change with
``uv run pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from tui import demo
from tui.app import ConsoleApp

SIZE = (120, 36)


def demo_app(*, connected: bool = True) -> ConsoleApp:
    app = ConsoleApp(
        demo.demo_backend(connected=connected), clock=demo.clock, operator="tui:demo", blink=False
    )
    app.animation_level = "none"
    return app


PAGES: dict[str, list[str]] = {
    "dashboard": ["_"],
    "feed": ["2", "_"],
    "events": ["3", "_", "down", "down", "down", "enter", "_", "_"],
    "review": ["4", "_", "_"],
    "review_confirm_merge": ["4", "_", "_", "m", "_"],
    "review_decided_by_resolvers": ["4", "_", "_", "f", "_", "_"],
    "dead_letters": ["5", "_", "_"],
    "config": ["6", "_", "_"],
    "help": ["question_mark", "_"],
}


def settled(keys: list[str]) -> Callable[[Pilot], Awaitable[None]]:
    """Press ``keys``, then wait until the page has loaded and laid out its tables.

    A DataTable measures its columns on its next idle event; under load the
    screenshot could come first and show every column cut to its header's width.
    A page's table can also be mounted or filled only after a first look found
    nothing pending, so the tables must look the same in three looks in a row.
    """

    def layout(pilot: Pilot) -> tuple[object, ...] | None:
        tables = list(pilot.app.screen.query(DataTable))
        if any(t._require_update_dimensions or t._updated_cells or t._new_rows for t in tables):
            return None
        return tuple(
            (t.id, t.row_count, tuple(c.get_render_width(t) for c in t.columns.values()))
            for t in tables
        )

    async def run(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        seen: list[tuple[object, ...] | None] = []
        for _ in range(400):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            seen.append(layout(pilot))
            if len(seen) >= 3 and seen[-1] is not None and seen[-3:].count(seen[-1]) == 3:
                return
            await pilot.pause(0.05)
        raise AssertionError("the page's tables never settled")

    return run


@pytest.mark.parametrize("page", list(PAGES))
def test_page(page: str, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(), run_before=settled(PAGES[page]), terminal_size=SIZE)


def test_disconnected_banner(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(connected=False), press=["_"], terminal_size=SIZE)
