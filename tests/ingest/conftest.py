"""Fixtures for the ingest tests: a minimal valid event/file (docs/domain.md §1.6) built in code."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

#: The hand-written minimal example of docs/domain.md §1.6.
MINIMAL_FILE: dict[str, Any] = {
    "events": [
        {
            "id": "pdf-9a2c5acd-2-2",
            "title": "Grünen-Gespräch zur Landtagswahl",
            "short_description": "Gesprächsveranstaltung mit Landtagskandidat ...",
            "event_dates": [{"date": "2026-02-26", "start_time": "19:00"}],
            "location": {
                "name": "Pferdestall, alter Gutshof",
                "city": "Gutach",
                "_sanitizeResult": {"city": "Gutach im Breisgau", "confidence": 1},
                "geo": {"latitude": 48.117019, "longitude": 7.986537, "confidence": 0.7422},
            },
            "source_type": "terminliste",
            "categories": ["versammlung"],
        }
    ],
    "rejected": [],
    "metadata": {"processedAt": "2026-02-25T10:00:00Z", "sourceKey": "elt.pdf"},
}


@pytest.fixture
def minimal_file() -> dict[str, Any]:
    """A fresh deep copy of the §1.6 example, free to mutate."""
    return copy.deepcopy(MINIMAL_FILE)


@pytest.fixture(scope="session")
def minimal_file_factory() -> Callable[[], dict[str, Any]]:
    """Returns fresh copies of the §1.6 example; session-scoped so hypothesis tests can use it."""
    return lambda: copy.deepcopy(MINIMAL_FILE)


@pytest.fixture
def make_event() -> Callable[..., dict[str, Any]]:
    """``make_event(i, **overrides)``: a valid event with id ``ev-<i>``; overrides replace keys."""

    def make(i: int = 0, **overrides: Any) -> dict[str, Any]:
        event = copy.deepcopy(MINIMAL_FILE["events"][0])
        event["id"] = f"ev-{i}"
        event.update(overrides)
        return event

    return make


@pytest.fixture
def encode() -> Callable[..., bytes]:
    """``encode(events, **top)``: bytes of an input file with these events."""

    def enc(events: list[Any], **top: Any) -> bytes:
        return json.dumps({"events": events, **top}, ensure_ascii=False).encode("utf-8")

    return enc
