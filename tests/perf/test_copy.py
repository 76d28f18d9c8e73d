"""Rows loaded with COPY come back exactly as given: escaping, NULLs, JSON, content hash."""

from __future__ import annotations

import datetime as dt
import json
import math

import sqlalchemy as sa

from eventdedup.db import events as store
from eventdedup.ingest.loader import json_safe
from eventdedup.model import EventDate, Geo, Location, SourceEvent

TRICKY = 'tab\there, new\nline, cr\rx, back\\slash \\N "quoted" ü ß \u2028 end\\'


def test_insert_events_round_trip(migrated_engine: sa.Engine) -> None:
    raw = {
        "id": "e\t1",
        "title": TRICKY,
        "nan": math.nan,
        "nul": "a\x00b",
        "lone": "x\ud800y",
        "nested": [{"k\x00": 1.5}],
        "ok": True,
    }
    event = SourceEvent(
        id="e\t1",
        source_code="abc",
        source_type="artikel",
        title=TRICKY,
        short_description=None,
        description="\\.",
        highlights=("a\tb", "\\N"),
        dates=(EventDate(dt.date(2026, 2, 14), dt.time(19, 30), None, dt.date(2026, 2, 15)),),
        location=Location(name="Halle \\ 1", city="Ort", geo=Geo(48.1, 7.9, 0.85, "DEU")),
        categories=("musik",),
        is_family_event=None,
        is_child_focused=False,
        admission_free=True,
        confidence_score=0.123456789,
        raw=raw,
    )
    with migrated_engine.begin() as conn:
        file_id = store.insert_file(
            conn,
            filename="abc_x.json",
            file_hash="h",
            source_code="abc",
            state="completed",
            size_bytes=1,
        )
        assert store.insert_events(conn, file_id, [event]) == 1
    with migrated_engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM source_events")).one()
        date = conn.execute(sa.text("SELECT * FROM event_dates")).one()
    assert row.id == "e\t1" and row.title == TRICKY and row.description == "\\."
    assert row.short_description is None and row.is_family_event is None
    assert row.highlights == ["a\tb", "\\N"] and row.categories == ["musik"]
    assert row.location_name == "Halle \\ 1" and row.geo_latitude == 48.1
    assert row.confidence_score == 0.123456789 and row.admission_free is True
    assert row.raw == json.loads(json.dumps(json_safe(raw)))
    assert row.content_hash == store.content_hash(raw)
    assert (date.date, date.start_time, date.end_time, date.end_date) == (
        dt.date(2026, 2, 14),
        dt.time(19, 30),
        None,
        dt.date(2026, 2, 15),
    )
    with migrated_engine.connect() as conn:
        known = store.stored_content_hashes(conn, ["e\t1", 'q"\\', "missing"])
    assert known == {"e\t1": (row.content_hash, file_id)}


def test_decisions_round_trip_old_and_slim_rows(migrated_engine: sa.Engine) -> None:
    """Decisions written slim read back whole; rows written with the full score JSON too."""
    from eventdedup.db.dedup import _insert_decisions, _load_decisions
    from eventdedup.matching import PairScore

    slim = PairScore(
        "a\t1",
        "b\\2",
        1.0,
        0.5,
        0.25,
        0.0,
        0.7,
        "ambiguous",
        "ambiguous: combined 0.70",
        "deterministic",
    )
    old = PairScore(
        "c", "d", 0.0, 1.0, 0.9, 0.1, 0.2, "no_match", "no match: combined 0.20", "deterministic"
    )
    with migrated_engine.begin() as conn:
        _insert_decisions(conn, [slim])
        conn.execute(
            sa.text(
                "INSERT INTO match_decisions (a_id, b_id, decision, combined, score) "
                "VALUES ('c', 'd', 'no_match', 0.2, CAST(:score AS jsonb))"
            ),
            {"score": json.dumps(old.to_json())},
        )
        stored = conn.execute(
            sa.text("SELECT score FROM match_decisions WHERE a_id = 'a\t1'")
        ).scalar_one()
        assert "a_id" not in stored and "combined" not in stored, "columns are not repeated"
        assert _load_decisions(conn, ["a\t1", "b\\2", "c", "d"]) == [slim, old]
