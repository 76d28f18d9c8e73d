"""Every real sample file must load completely: the loader may be strict, never wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from eventdedup.ingest import load_file
from eventdedup.model import SOURCE_TYPES
from eventdedup.testing import corpus_files

FILES = corpus_files()


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split("_")[0])
def test_dev_corpus_file_loads_without_rejections(path: Path) -> None:
    data = path.read_bytes()
    parsed: dict[str, Any] = json.loads(data)
    loaded = load_file(data, path.name)

    assert loaded.rejected == ()
    assert loaded.warnings == ()
    assert loaded.source_code == path.name.split("_")[0]
    assert loaded.event_count == len(parsed["events"]) == len(loaded.events)
    assert loaded.metadata == parsed["metadata"]
    assert [e.id for e in loaded.events] == [e["id"] for e in parsed["events"]]
    for event, raw in zip(loaded.events, parsed["events"], strict=True):
        assert event.source_code == loaded.source_code
        assert event.source_type in SOURCE_TYPES
        assert event.raw == raw
        assert len(event.dates) == len(raw["event_dates"])
        loc = raw.get("location")
        if loc:
            sanitized = (loc.get("_sanitizeResult") or {}).get("city")
            assert event.location is not None
            assert event.location.city == (sanitized or loc.get("city"))
            assert event.location.printed_city == loc.get("city")
