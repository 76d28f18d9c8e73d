"""Blocking keys and candidate pairs (§3, §17 item 4).

Keys are plain strings so the DB can store (key, event_id) rows and find all
candidates of a file's new events with one indexed query. Every key is scoped
to a single calendar day, so a block never grows beyond "listings of one day
in one place / one ~10 km area / sharing one title word" — independent of
how large the store becomes.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventdedup.matching.config import BlockingConfig, MatchingConfig
from eventdedup.matching.record import EventRecord


def _trusted_point(r: EventRecord, cfg: BlockingConfig) -> tuple[float, float] | None:
    if r.geo_latitude is None or r.geo_longitude is None or r.geo_confidence is None:
        return None
    if r.geo_confidence < cfg.geo_min_confidence:
        return None
    lat_min, lat_max, lon_min, lon_max = cfg.region_bbox
    if not (lat_min <= r.geo_latitude <= lat_max and lon_min <= r.geo_longitude <= lon_max):
        return None
    return r.geo_latitude, r.geo_longitude


def geo_cells(lat: float, lon: float, cfg: BlockingConfig) -> tuple[str, ...]:
    """The point's cell in four half-cell-shifted grids.

    Grid 0 is the original's layout (``round(lat/cell)·cell``, now with ~2 km
    cells); grids 1–3 are shifted by half a cell in latitude, longitude or both.
    Two points closer than half a cell (~1 km) in both axes share a cell in at
    least one grid, so venues 200 m apart across a cell border always meet.
    """
    out = []
    for i, (slat, slon) in enumerate(((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5))):
        cy = round(lat / cfg.cell_lat_deg - slat)
        cx = round(lon / cfg.cell_lon_deg - slon)
        if i == 0:
            out.append(f"{cy * cfg.cell_lat_deg:.2f}|{cx * cfg.cell_lon_deg:.2f}")
        else:
            out.append(f"g{i}|{cy}|{cx}")
    return tuple(out)


def _rare_title_tokens(r: EventRecord, cfg: BlockingConfig) -> tuple[str, ...]:
    """The longest key words of the title (frequency-free proxy for rare words)."""
    toks = sorted(
        {t for t in r.title_tokens if len(t) >= cfg.min_title_token_length and not t.isdigit()},
        key=lambda t: (-len(t), t),
    )
    return tuple(toks[: cfg.title_token_keys])


def time_slots(record: EventRecord, day: str, cfg: BlockingConfig) -> tuple[str, ...]:
    """Start-time slots of ``day``: two listings whose start times are at most
    ``time_slot_minutes`` apart (wrapping at midnight) share a slot.

    A start time in slot k emits k and k+1; a day without a start time emits
    every slot (a missing time is no evidence, it must meet every listing). Two
    listings of one event give start times well within the slot width (the date
    signal scores anything beyond 90 minutes as a conflict), so this only drops
    pairs that could never match — and it splits the big city-day blocks of
    towns with many events per day.
    """
    width = cfg.time_slot_minutes
    if width <= 0:
        return ("",)
    n = max(1, -(-1440 // width))
    minutes = [m for d, m in record.day_times if d == day]
    if not minutes:
        return tuple(f"|{k}" for k in range(n))
    slots: set[int] = set()
    for m in minutes:
        k = m // width
        slots.update((k % n, (k + 1) % n))
    return tuple(f"|{k}" for k in sorted(slots))


def blocking_keys(record: EventRecord, cfg: MatchingConfig) -> tuple[str, ...]:
    """Day- and start-time-scoped keys: city, fine geo cell (4 shifted grids), title word.

    Days are the record's covered days (ranges and prose end dates expanded).
    """
    b = cfg.blocking
    point = _trusted_point(record, b)
    cells = geo_cells(*point, b) if point else ()
    words = _rare_title_tokens(record, b)
    keys: list[str] = []
    for day in record.days:
        slots = time_slots(record, day, b)
        for base in (
            *(f"dc|{day}|{c}" for c in record.city_keys),
            *(f"dg|{day}|{c}" for c in cells),
            *(f"dt|{day}|{w}" for w in words),
        ):
            keys.extend(base + s for s in slots)
    return tuple(dict.fromkeys(keys))


def candidate_pairs(
    new: Sequence[EventRecord], stored: Sequence[EventRecord], cfg: MatchingConfig
) -> list[tuple[str, str]]:
    """Pairs (smaller id first) between new × (new ∪ stored) sharing ≥ 1 key, sorted."""
    index: dict[str, list[str]] = {}
    new_ids = {r.id for r in new}
    for r in stored:
        if r.id in new_ids:
            continue
        for k in blocking_keys(r, cfg):
            index.setdefault(k, []).append(r.id)
    new_keys: dict[str, list[str]] = {}
    for r in new:
        for k in blocking_keys(r, cfg):
            new_keys.setdefault(k, []).append(r.id)
    # pairs as integers over a sorted id table: far cheaper to de-duplicate than
    # string tuples (records sharing several keys meet once per shared key)
    table = sorted({r.id for r in new} | {y for ids in index.values() for y in ids})
    num = {x: i for i, x in enumerate(table)}
    n = len(table)
    seen: set[int] = set()
    for k, ids in new_keys.items():
        xs = [num[x] for x in ids]
        others = [num[y] for y in index.get(k, ())]
        for i, x in enumerate(xs):
            for y in xs[i + 1 :]:
                if x != y:
                    seen.add(x * n + y if x < y else y * n + x)
            for y in others:
                seen.add(x * n + y if x < y else y * n + x)
    pairs = [(table[p // n], table[p % n]) for p in sorted(seen)]
    return pairs


def naive_pair_count(n: int) -> int:
    return n * (n - 1) // 2 if n > 1 else 0


__all__ = ["blocking_keys", "candidate_pairs", "geo_cells", "naive_pair_count", "time_slots"]
