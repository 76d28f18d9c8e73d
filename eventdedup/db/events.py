"""Queries for file ingestions and source events (the foundation's tables)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.tables import event_dates, file_ingestions, source_events
from eventdedup.ingest.loader import json_safe
from eventdedup.model import SourceEvent


def content_hash(raw: Mapping[str, Any]) -> str:
    """Hash of an event's content, independent of key order and whitespace."""
    text = json.dumps(json_safe(raw), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def try_lock_file(conn: Connection, file_hash: str) -> bool:
    """Claim a file for this transaction so two replicas never process it together."""
    key = sa.func.hashtextextended(file_hash, 0)
    return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar_one())


def completed_by_hash(conn: Connection, file_hash: str) -> sa.Row[Any] | None:
    return conn.execute(
        sa.select(file_ingestions.c.id, file_ingestions.c.filename)
        .where(file_ingestions.c.file_hash == file_hash)
        .where(file_ingestions.c.state == "completed")
    ).first()


def stored_content_hashes(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Content hash and file id of those ``ids`` that are already stored."""
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(source_events.c.id, source_events.c.content_hash, source_events.c.file_id)
        .where(source_events.c.id.in_(list(ids)))
    )
    return {r.id: (r.content_hash, r.file_id) for r in rows}


def insert_file(conn: Connection, **values: Any) -> int:
    return conn.execute(
        file_ingestions.insert().values(**values).returning(file_ingestions.c.id)
    ).scalar_one()


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    conn.execute(file_ingestions.update().where(file_ingestions.c.id == file_id).values(**values))


def insert_events(conn: Connection, file_id: int, events: Iterable[SourceEvent]) -> int:
    """Insert source events and their dates with two multi-row statements."""
    event_rows: list[dict[str, Any]] = []
    date_rows: list[dict[str, Any]] = []
    for ev in events:
        loc = ev.location
        geo = loc.geo if loc else None
        event_rows.append({
            "id": ev.id,
            "file_id": file_id,
            "source_code": ev.source_code,
            "source_type": ev.source_type,
            "title": ev.title,
            "short_description": ev.short_description,
            "description": ev.description,
            "highlights": list(ev.highlights),
            "location_name": loc.name if loc else None,
            "location_city": loc.city if loc else None,
            "location_printed_city": loc.printed_city if loc else None,
            "location_district": loc.district if loc else None,
            "location_street": loc.street if loc else None,
            "location_street_no": loc.street_no if loc else None,
            "location_zipcode": loc.zipcode if loc else None,
            "geo_latitude": geo.latitude if geo else None,
            "geo_longitude": geo.longitude if geo else None,
            "geo_confidence": geo.confidence if geo else None,
            "geo_country": geo.country if geo else None,
            "categories": list(ev.categories),
            "is_family_event": ev.is_family_event,
            "is_child_focused": ev.is_child_focused,
            "admission_free": ev.admission_free,
            "registration_required": ev.registration_required,
            "registration_contact": ev.registration_contact,
            "confidence_score": ev.confidence_score,
            "raw": json_safe(dict(ev.raw)),
            "content_hash": content_hash(ev.raw),
        })
        for position, d in enumerate(ev.dates):
            date_rows.append({
                "event_id": ev.id,
                "position": position,
                "date": d.date,
                "start_time": d.start_time,
                "end_time": d.end_time,
                "end_date": d.end_date,
            })
    if event_rows:
        conn.execute(source_events.insert(), event_rows)
    if date_rows:
        conn.execute(event_dates.insert(), date_rows)
    return len(event_rows)


def count_events_of_file(conn: Connection, file_id: int) -> int:
    return conn.execute(
        sa.select(sa.func.count()).select_from(source_events)
        .where(source_events.c.file_id == file_id)
    ).scalar_one()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
