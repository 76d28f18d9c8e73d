"""Exports: clusters for evaluation, canonical events in the input format for re-ingestion."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.tables import canonical_events, source_events


def export_clusters(conn: Connection) -> dict[str, Any]:
    """Every stored source event in exactly one cluster (singletons included)."""
    rows = conn.execute(
        sa.select(source_events.c.id, source_events.c.canonical_id).order_by(source_events.c.id)
    )
    groups: dict[Any, list[str]] = {}
    for r in rows:
        key = r.canonical_id if r.canonical_id is not None else f"single:{r.id}"
        groups.setdefault(key, []).append(r.id)
    return {"clusters": sorted(groups.values(), key=lambda ids: ids[0])}


def canonical_as_input_event(cid: int, data: dict[str, Any]) -> dict[str, Any]:
    """A canonical event in the drop-folder format, with a stable id and ``source_type``.

    ``source_type`` is ``terminliste``: a canonical is a calendar entry synthesized
    from listings, not an article.  The ids of its sources travel along, so an
    export can be ingested again (docs/domain.md §17 item 24) and traced back.
    """
    location: dict[str, Any] = {
        "name": data.get("location_name"),
        "city": data.get("location_city"),
        "district": data.get("location_district"),
        "street": data.get("location_street"),
        "zipcode": data.get("location_zipcode"),
    }
    if data.get("geo_latitude") is not None and data.get("geo_longitude") is not None:
        location["geo"] = {
            "latitude": data["geo_latitude"],
            "longitude": data["geo_longitude"],
            "confidence": data.get("geo_confidence"),
        }
    return {
        "id": f"canonical-{cid}",
        "title": data.get("title") or "",
        "short_description": data.get("short_description"),
        "description": data.get("description"),
        "highlights": list(data.get("highlights") or []),
        "event_dates": [
            {k: v for k, v in d.items() if v is not None} for d in data.get("dates") or []
        ],
        "location": {k: v for k, v in location.items() if v is not None},
        "source_type": "terminliste",
        "categories": list(data.get("categories") or []),
        "is_family_event": data.get("is_family_event"),
        "is_child_focused": data.get("is_child_focused"),
        "admission_free": data.get("admission_free"),
        "source_ids": list(data.get("member_ids") or []),
        "match_confidence": data.get("match_confidence"),
    }


def export_events(conn: Connection) -> dict[str, Any]:
    rows = conn.execute(
        sa.select(canonical_events.c.id, canonical_events.c.data).order_by(canonical_events.c.id)
    )
    events = [canonical_as_input_event(r.id, r.data) for r in rows]
    return {
        "events": events,
        "rejected": [],
        "metadata": {"sourceKey": "eventdedup-export", "eventCount": len(events)},
    }
