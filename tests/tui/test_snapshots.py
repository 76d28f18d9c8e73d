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
    """

    async def run(pilot: Pilot) -> None:
        await pilot.pause()
        await pilot.press(*keys)
        for _ in range(400):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            tables = list(pilot.app.screen.query(DataTable))
            if not any(t._require_update_dimensions or t._updated_cells for t in tables):
                return
            await pilot.pause(0.05)
        raise AssertionError("the page's tables never settled")

    return run


@pytest.mark.parametrize("page", list(PAGES))
def test_page(page: str, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(), run_before=settled(PAGES[page]), terminal_size=SIZE)


def test_disconnected_banner(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(connected=False), press=["_"], terminal_size=SIZE)
