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
from eventdedup.matching.record import EventRecord, expand_days


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

    Grid 0 is the original's (``round(lat/0.09)·0.09``); grids 1–3 are shifted
    by half a cell in latitude, longitude or both. Two points closer than half
    a cell (~5 km) in both axes share a cell in at least one grid, so venues
    200 m apart across a cell border now meet (the original missed them).
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


def blocking_keys(record: EventRecord, cfg: MatchingConfig) -> tuple[str, ...]:
    """Day-scoped keys: day+city, day+geo cell (4 shifted grids), day+title word."""
    b = cfg.blocking
    days = expand_days(record.dates, b.max_range_days)
    point = _trusted_point(record, b)
    cells = geo_cells(*point, b) if point else ()
    words = _rare_title_tokens(record, b)
    keys: list[str] = []
    for day in days:
        keys.extend(f"dc|{day}|{c}" for c in record.city_keys)
        keys.extend(f"dg|{day}|{c}" for c in cells)
        keys.extend(f"dt|{day}|{w}" for w in words)
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
    pairs: set[tuple[str, str]] = set()
    for k, ids in new_keys.items():
        others = index.get(k, ())
        for i, x in enumerate(ids):
            for y in ids[i + 1 :]:
                if x != y:
                    pairs.add((x, y) if x < y else (y, x))
            for y in others:
                pairs.add((x, y) if x < y else (y, x))
    return sorted(pairs)


def naive_pair_count(n: int) -> int:
    return n * (n - 1) // 2 if n > 1 else 0


__all__ = ["blocking_keys", "candidate_pairs", "geo_cells", "naive_pair_count"]
