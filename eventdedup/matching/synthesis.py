"""Canonical event synthesis (docs/domain.md §6) with deterministic tie-breaks and no downgrades.

Ties are broken by member id order, never by set/hash order (§17 item 10). The
date schedule is de-duplicated within the time tolerance (19:11 vs 19:30 is one
showing). With ``previous`` given, a field only changes when the new value is
*better* by that field's own measure and never becomes empty (§17 item 1);
a previous value whose source listing left the cluster is not protected.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import AMBIGUOUS, MATCH, NO_MATCH, PairScore
from eventdedup.matching.record import EventRecord
from eventdedup.model import EventDate

UNION = "union"


@attrs.frozen
class Canonical:
    title: str
    short_description: str | None
    description: str | None
    highlights: tuple[str, ...]
    categories: tuple[str, ...]
    location_name: str | None
    location_city: str | None
    location_district: str | None
    location_street: str | None
    location_zipcode: str | None
    geo_latitude: float | None
    geo_longitude: float | None
    geo_confidence: float | None
    dates: tuple[EventDate, ...]
    first_date: dt.date | None
    last_date: dt.date | None
    is_family_event: bool
    is_child_focused: bool
    admission_free: bool
    member_ids: tuple[str, ...]
    source_count: int
    match_confidence: float | None
    needs_review: bool
    provenance: dict[str, str] = attrs.field(factory=dict)
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=False)
        out["dates"] = [
            {
                "date": d.date.isoformat(),
                "start_time": d.start_time.isoformat() if d.start_time else None,
                "end_time": d.end_time.isoformat() if d.end_time else None,
                "end_date": d.end_date.isoformat() if d.end_date else None,
            }
            for d in self.dates
        ]
        out["first_date"] = self.first_date.isoformat() if self.first_date else None
        out["last_date"] = self.last_date.isoformat() if self.last_date else None
        for k in ("highlights", "categories", "member_ids"):
            out[k] = list(out[k])
        out["provenance"] = dict(self.provenance)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Canonical:
        d = dict(data)
        d["dates"] = tuple(
            EventDate(
                date=dt.date.fromisoformat(x["date"]),
                start_time=dt.time.fromisoformat(x["start_time"]) if x.get("start_time") else None,
                end_time=dt.time.fromisoformat(x["end_time"]) if x.get("end_time") else None,
                end_date=dt.date.fromisoformat(x["end_date"]) if x.get("end_date") else None,
            )
            for x in d["dates"]
        )
        for k in ("first_date", "last_date"):
            d[k] = dt.date.fromisoformat(d[k]) if d.get(k) else None
        for k in ("highlights", "categories", "member_ids"):
            d[k] = tuple(d[k])
        return cls(**d)

    def changed_fields(self, other: Canonical) -> list[str]:
        """Names of content fields that differ (for feed messages)."""
        skip = {"version", "provenance"}
        return [
            f.name
            for f in attrs.fields(Canonical)
            if f.name not in skip and getattr(self, f.name) != getattr(other, f.name)
        ]


def _pick(
    members: Sequence[EventRecord], get: Callable[[EventRecord], Any], rank: Callable[[Any], Any]
) -> tuple[Any, str | None]:
    """Best non-empty value by ``rank``; ties -> smallest member id."""
    best: tuple[Any, Any, str] | None = None
    for r in members:  # members are sorted by id
        v = get(r)
        if v is None or v == "":
            continue
        key = rank(v)
        if best is None or key > best[0]:
            best = (key, v, r.id)
    return (best[1], best[2]) if best else (None, None)


def _title_rank(t: str) -> tuple[bool, bool, int]:
    stripped = t.strip()
    letters = [c for c in stripped if c.isalpha()]
    not_caps = not letters or not all(c.isupper() for c in letters)
    return (len(stripped) >= 10, not_caps, len(stripped))


def _length(v: str) -> int:
    return len(v.strip())


def _union(values: Sequence[Sequence[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for vs in values for v in vs if v))


def merge_schedule(dates: Sequence[EventDate], tolerance_minutes: float) -> tuple[EventDate, ...]:
    """Union of date entries; start times within the tolerance count as one.

    Per (date, end_date) the times are clustered greedily in time order; each
    group keeps its most frequent start time (tie: earliest). An entry without
    time is dropped when the same day has a timed entry.
    """
    by_day: dict[tuple[dt.date, dt.date | None], list[EventDate]] = {}
    for d in dates:
        by_day.setdefault((d.date, d.end_date), []).append(d)
    out: list[EventDate] = []
    for (day, end), entries in sorted(by_day.items(), key=lambda t: (t[0][0], t[0][1] or t[0][0])):
        # timed entries only: start_time is not None below, which mypy cannot follow
        timed = sorted((e for e in entries if e.start_time), key=lambda e: e.start_time)  # type: ignore[arg-type, return-value]
        if not timed:
            ends = sorted({e.end_time for e in entries if e.end_time})
            out.append(EventDate(day, None, ends[0] if ends else None, end))
            continue
        groups: list[list[EventDate]] = []
        for e in timed:
            m = e.start_time.hour * 60 + e.start_time.minute  # type: ignore[union-attr]
            if groups:
                g0 = groups[-1][0].start_time
                if m - (g0.hour * 60 + g0.minute) <= tolerance_minutes:  # type: ignore[union-attr]
                    groups[-1].append(e)
                    continue
            groups.append([e])
        for g in groups:
            counts = Counter(e.start_time for e in g)
            start = sorted(counts.items(), key=lambda t: (-t[1], t[0]))[0][0]
            ends = sorted({e.end_time for e in g if e.end_time})
            out.append(EventDate(day, start, ends[0] if ends else None, end))
    return tuple(out)


def synthesize(
    members: Sequence[EventRecord],
    edges: Sequence[PairScore],
    previous: Canonical | None,
    cfg: MatchingConfig,
) -> Canonical:
    """Build the canonical event of one cluster (see module docstring)."""
    if not members:
        raise ValueError("cannot synthesize a canonical without members")
    recs = sorted(members, key=lambda r: r.id)
    ids = tuple(r.id for r in recs)
    idset = set(ids)
    prov: dict[str, str] = {}
    fields: dict[str, Any] = {}

    def choose(name: str, get: Callable[[EventRecord], Any], rank: Callable[[Any], Any]) -> None:
        value, src = _pick(recs, get, rank)
        if previous is not None:
            old = getattr(previous, name)
            old_src = previous.provenance.get(name)
            keep = (
                old not in (None, "")
                and old_src in idset
                and (value in (None, "") or rank(old) >= rank(value))
            )
            if keep:
                value, src = old, old_src
        fields[name] = value
        if src is not None:
            prov[name] = src

    choose("title", lambda r: r.title, _title_rank)
    choose("short_description", lambda r: r.short_description, _length)
    choose("description", lambda r: r.description, _length)
    choose("location_name", lambda r: r.location_name, _length)
    choose("location_district", lambda r: r.district, _length)
    choose("location_street", lambda r: r.street, _length)
    choose("location_zipcode", lambda r: r.zipcode, _length)
    if fields["title"] is None:
        fields["title"] = ""

    # city: most frequent non-empty value, tie -> first in id order
    cities = [r.city for r in recs if r.city]
    if cities:
        counts = Counter(cities)
        city = max(cities, key=lambda c: (counts[c], -cities.index(c)))
        fields["location_city"] = city
        prov["location_city"] = next(r.id for r in recs if r.city == city)
    else:
        fields["location_city"] = previous.location_city if previous else None

    # geo: the most confident complete point; previous kept unless beaten
    geo_src: str | None = None
    geo: tuple[float | None, float | None, float | None] = (None, None, None)
    for r in recs:
        if r.geo_latitude is None or r.geo_longitude is None:
            continue
        conf = r.geo_confidence if r.geo_confidence is not None else 0.0
        if geo_src is None or conf > (geo[2] or 0.0):
            geo, geo_src = (r.geo_latitude, r.geo_longitude, conf), r.id
    if previous is not None and previous.geo_latitude is not None:
        old_src = previous.provenance.get("geo")
        if old_src in idset and (
            geo_src is None or (previous.geo_confidence or 0.0) >= (geo[2] or 0.0)
        ):
            geo = (previous.geo_latitude, previous.geo_longitude, previous.geo_confidence)
            geo_src = old_src
    if geo_src is not None:
        prov["geo"] = geo_src

    highlights = _union([r.highlights for r in recs])
    categories = _union([r.categories for r in recs])
    prov["highlights"] = prov["categories"] = prov["dates"] = UNION
    dates = merge_schedule([d for r in recs for d in r.dates], cfg.date.time_tolerance_minutes)
    all_days = [d.date for d in dates] + [d.end_date for d in dates if d.end_date]

    inside = [e for e in edges if e.a_id in idset and e.b_id in idset]
    match_scores = [e.combined for e in inside if e.decision == MATCH]
    confidence = round(sum(match_scores) / len(match_scores), 4) if match_scores else None
    needs_review = len(recs) > 1 and (
        confidence is None
        or confidence < 0.8
        or any(e.decision in (AMBIGUOUS, NO_MATCH) for e in inside)
    )

    canonical = Canonical(
        title=fields["title"],
        short_description=fields["short_description"],
        description=fields["description"],
        highlights=highlights,
        categories=categories,
        location_name=fields["location_name"],
        location_city=fields["location_city"],
        location_district=fields["location_district"],
        location_street=fields["location_street"],
        location_zipcode=fields["location_zipcode"],
        geo_latitude=geo[0],
        geo_longitude=geo[1],
        geo_confidence=geo[2],
        dates=dates,
        first_date=min(all_days) if all_days else None,
        last_date=max(all_days) if all_days else None,
        is_family_event=any(r.is_family_event for r in recs),
        is_child_focused=any(r.is_child_focused for r in recs),
        admission_free=any(r.admission_free for r in recs),
        member_ids=ids,
        source_count=len(recs),
        match_confidence=confidence,
        needs_review=needs_review,
        provenance=dict(sorted(prov.items())),
        version=previous.version if previous else 1,
    )
    if previous is not None and canonical.changed_fields(previous):
        canonical = attrs.evolve(canonical, version=previous.version + 1)
    return canonical
