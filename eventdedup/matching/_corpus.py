"""Dev-corpus JSON -> SourceEvent, for tests and the benchmark only.

The production loader lives elsewhere (eventdedup.ingest); this private
converter implements just what the dev corpus needs (§1.3–1.5).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eventdedup.model import EventDate, Geo, Location, SourceEvent

DEV_CORPUS = Path("/work/shared/corpus/dev")


def _time(s: Any) -> dt.time | None:
    if not s or not isinstance(s, str) or ":" not in s:
        return None
    parts = [int(p) for p in s.strip().split(":")]
    return dt.time(*parts[:3])


def _date(s: Any) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


def _float(v: Any) -> float | None:
    if v is None or v == "":
        return None
    return float(v)


def event_from_json(obj: Mapping[str, Any], source_code: str) -> SourceEvent:
    loc_obj = obj.get("location") or None
    location = None
    if loc_obj:
        sanitized = (loc_obj.get("_sanitizeResult") or {}).get("city")
        printed = loc_obj.get("city")
        geo_obj = loc_obj.get("geo") or None
        geo = None
        if geo_obj and geo_obj.get("latitude") is not None and geo_obj.get("longitude") is not None:
            geo = Geo(
                latitude=float(geo_obj["latitude"]),
                longitude=float(geo_obj["longitude"]),
                confidence=_float(geo_obj.get("confidence")),
                country=geo_obj.get("country"),
            )
        location = Location(
            name=loc_obj.get("name"),
            city=sanitized or printed,
            printed_city=printed,
            district=loc_obj.get("district"),
            street=loc_obj.get("street"),
            street_no=loc_obj.get("street_no"),
            zipcode=loc_obj.get("zipcode"),
            geo=geo,
        )
    dates = tuple(
        EventDate(
            date=dt.date.fromisoformat(d["date"]),
            start_time=_time(d.get("start_time")),
            end_time=_time(d.get("end_time")),
            end_date=_date(d.get("end_date")),
        )
        for d in obj.get("event_dates") or ()
    )
    return SourceEvent(
        id=obj["id"],
        source_code=source_code,
        source_type=obj.get("source_type") or "",
        title=obj.get("title") or "",
        short_description=obj.get("short_description"),
        description=obj.get("description"),
        highlights=tuple(obj.get("highlights") or ()),
        dates=dates,
        location=location,
        categories=tuple(obj.get("categories") or ()),
        is_family_event=obj.get("is_family_event"),
        is_child_focused=obj.get("is_child_focused"),
        admission_free=obj.get("admission_free"),
        registration_required=obj.get("registration_required"),
        registration_contact=obj.get("registration_contact"),
        confidence_score=_float(obj.get("confidence_score")),
        raw=dict(obj),
    )


def load_file(path: Path) -> list[SourceEvent]:
    source = path.name.split("_", 1)[0]
    data = json.loads(path.read_text(encoding="utf-8"))
    return [event_from_json(e, source) for e in data["events"]]


def corpus_files(root: Path = DEV_CORPUS) -> list[Path]:
    return sorted(p for p in root.glob("*_*.json") if p.is_file())


def load_corpus(root: Path = DEV_CORPUS) -> dict[str, list[SourceEvent]]:
    """file name -> events, in sorted file order."""
    return {p.name: load_file(p) for p in corpus_files(root)}


def load_truth(root: Path = DEV_CORPUS) -> dict[str, str]:
    return json.loads((root / "truth.json").read_text(encoding="utf-8"))


def load_families(root: Path = DEV_CORPUS) -> dict[str, dict[str, Any]]:
    out = {}
    for line in (root / "families.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = row
    return out
