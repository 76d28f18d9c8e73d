"""SVG snapshots of every page, rendered from the canned demo data (no network).

Deterministic by construction: a fake backend answering synchronously, a fixed
clock, no cursor blink, no animations.  Update after an intended change with
``uv run pytest tests/tui/test_snapshots.py --snapshot-update`` and look at the
report before committing the new SVGs.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

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


@pytest.mark.parametrize("page", list(PAGES))
def test_page(page: str, snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(), press=PAGES[page], terminal_size=SIZE)


def test_disconnected_banner(snap_compare: Callable[..., bool]) -> None:
    assert snap_compare(demo_app(connected=False), press=["_"], terminal_size=SIZE)
