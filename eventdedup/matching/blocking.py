"""Blocking keys and candidate pairs (docs/domain.md §3, §17 item 4).

Keys are plain strings so the DB can store (key, event_id) rows and find all
candidates of a file's new events with one indexed query. Every key is scoped
to a single calendar day, so a block never grows beyond "listings of one day
in one place / one ~10 km area / sharing one title word" — independent of
how large the store becomes.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence

from eventdedup.matching.config import BlockingConfig, MatchingConfig
from eventdedup.matching.normalize import register_cache
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
    minutes = record.day_minutes.get(day)
    if not minutes:
        return _all_slots(n)
    slots: set[int] = set()
    for m in minutes:
        k = m // width
        slots.update((k % n, (k + 1) % n))
    return tuple(_SLOT_NAMES[k] if k < len(_SLOT_NAMES) else f"|{k}" for k in sorted(slots))


_SLOT_NAMES = tuple(f"|{k}" for k in range(1440))


@functools.lru_cache(maxsize=64)
def _all_slots(n: int) -> tuple[str, ...]:
    return tuple(f"|{k}" for k in range(n))


def _key_parts(record: EventRecord, b: BlockingConfig) -> tuple[tuple[str, str], ...]:
    """(family, "|<value>") of every key family entry; a key is "<family>|<day><end>|<slot>"."""
    point = _trusted_point(record, b)
    parts = [("dc", "|" + c) for c in record.city_keys]
    if point:
        # venues repeat: the cells of a point are memoised (for one config at a time)
        if _CELLS_FOR[0] is not b:
            _CELLS.clear()
            _CELLS_FOR[0] = b
        cells = _CELLS.get(point)
        if cells is None:
            if len(_CELLS) > 100_000:
                _CELLS.clear()
            cells = _CELLS[point] = geo_cells(*point, b)
        parts += [("dg", "|" + c) for c in cells]
    parts += [("dt", "|" + w) for w in _rare_title_tokens(record, b)]
    return tuple(parts)


_CELLS: dict[tuple[float, float], tuple[str, ...]] = {}
_CELLS_FOR: list[BlockingConfig | None] = [None]
register_cache(_CELLS.clear)


def blocking_keys(record: EventRecord, cfg: MatchingConfig) -> tuple[str, ...]:
    """Day- and start-time-scoped keys: city, fine geo cell (4 shifted grids), title word.

    Days are the record's covered days (ranges and prose end dates expanded).
    """
    b = cfg.blocking
    parts = _key_parts(record, b)
    keys: list[str] = []
    for day in record.days:
        slots = time_slots(record, day, b)
        for f, end in parts:
            base = f"{f}|{day}{end}"
            keys.extend([base + s for s in slots])
    return tuple(dict.fromkeys(keys))


def _slot_mask(record: EventRecord, day: str, b: BlockingConfig) -> int:
    """``time_slots`` as a bit set: bit k set <=> slot k is emitted."""
    width = b.time_slot_minutes
    if width <= 0:
        return 1
    n = max(1, -(-1440 // width))
    minutes = record.day_minutes.get(day)
    if not minutes:
        return (1 << n) - 1
    mask = 0
    for m in minutes:
        k = m // width
        mask |= (1 << (k % n)) | (1 << ((k + 1) % n))
    return mask


def block_entries(record: EventRecord, cfg: MatchingConfig) -> dict[str, int]:
    """The keys of ``blocking_keys`` grouped by their slot-free part: base -> slot mask.

    Two records share a blocking key exactly when they share a base and their
    masks intersect (a key is base + "|<slot>"), so candidate generation can
    work on ~1/5 of the strings without changing which pairs meet.
    """
    b = cfg.blocking
    parts = _key_parts(record, b)
    out: dict[str, int] = {}
    # a base names its day, so its mask is that day's mask; a range repeats its start
    # times on every day, so days with the same times share one mask
    masks: dict[tuple[int, ...] | None, int] = {}
    minutes_of = record.day_minutes.get
    for day in record.days:
        minutes = minutes_of(day)
        mask = masks.get(minutes)
        if mask is None:
            mask = masks[minutes] = _slot_mask(record, day, b)
        for f, end in parts:
            out[f"{f}|{day}{end}"] = mask
    return out


def candidate_pairs(
    new: Sequence[EventRecord], stored: Sequence[EventRecord], cfg: MatchingConfig
) -> list[tuple[str, str]]:
    """Pairs (smaller id first) between new × (new ∪ stored) sharing ≥ 1 key, sorted.

    "Sharing a key" is evaluated as sharing a base with intersecting slot masks
    (``block_entries``), which is the same relation.
    """
    new_ids = {r.id for r in new}
    stored = [r for r in stored if r.id not in new_ids]
    # ids as integers over a sorted id table: pairs are far cheaper to de-duplicate
    # as integers than as string tuples (records sharing several keys meet once per key)
    table = sorted(new_ids | {r.id for r in stored})
    num = {x: i for i, x in enumerate(table)}
    n = len(table)
    index: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in stored:
        i = num[r.id]
        for base, mask in block_entries(r, cfg).items():
            index[base].append((i, mask))
    new_blocks: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in new:
        i = num[r.id]
        for base, mask in block_entries(r, cfg).items():
            new_blocks[base].append((i, mask))
    seen: set[int] = set()
    for base, xs in new_blocks.items():
        others = index.get(base, ()) if index else ()
        if len(xs) == 1 and not others:
            continue  # a block of one
        for j, (x, mx) in enumerate(xs):
            for y, my in xs[j + 1 :]:
                if mx & my and x != y:
                    seen.add(x * n + y if x < y else y * n + x)
            for y, my in others:
                if mx & my:
                    seen.add(x * n + y if x < y else y * n + x)
    return [(table[p // n], table[p % n]) for p in sorted(seen)]


def naive_pair_count(n: int) -> int:
    return n * (n - 1) // 2 if n > 1 else 0


__all__ = [
    "block_entries",
    "blocking_keys",
    "candidate_pairs",
    "geo_cells",
    "naive_pair_count",
    "time_slots",
]
