"""The four pair signals (docs/domain.md §4.1–4.5), each in [0, 1], computed on normalised forms.

The string-level helpers (``time_factor``, ``blended_title_similarity``,
``geo_score_from``) keep the original's tiers and numbers so they can be unit
tested against §4; the record-level scorers feed them normalised input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rapidfuzz import fuzz

from eventdedup.matching.config import (
    DateConfig,
    GeoConfig,
    MatchingConfig,
    TitleBlend,
)
from eventdedup.matching.normalize import register_cache
from eventdedup.matching.record import EventRecord

EARTH_RADIUS_KM = 6371.0
CROSS_TYPES = frozenset({"artikel", "terminliste"})


# --------------------------------------------------------------------------- date


def time_factor(delta_minutes: float, cfg: DateConfig) -> float:
    """§4.1 tiers: ≤30 min 1.0, ≤90 close_factor, ≤2 h far_factor, beyond gap factor."""
    if delta_minutes <= cfg.time_tolerance_minutes:
        return 1.0
    if delta_minutes <= cfg.time_close_minutes:
        return cfg.close_factor
    if delta_minutes <= cfg.time_gap_penalty_hours * 60:
        return cfg.far_factor
    return cfg.time_gap_penalty_factor


def clock_delta(a: int, b: int) -> int:
    """Minutes between two clock times, wrapping at midnight (23:50 vs 00:10 = 20)."""
    d = abs(a - b) % 1440
    return min(d, 1440 - d)


def _minutes_on(r: EventRecord, day: str) -> tuple[int, ...]:
    return r.day_minutes.get(day, ())


def common_days(a: EventRecord, b: EventRecord) -> list[str]:
    """Days both listings cover, sorted."""
    da, db = a.days, b.days
    # one day against a range (the commonest case after one day each), or one range
    if len(da) == 1:
        return [da[0]] if da[0] in db else []
    if len(db) == 1:
        return [db[0]] if db[0] in da else []
    if da == db:
        return list(da)
    if len(a.days) > len(b.days):
        sb = set(b.days)
        return [d for d in a.days if d in sb]
    sa = set(a.days)
    return [d for d in b.days if d in sa]


def best_time_deltas(a: EventRecord, b: EventRecord, common: list[str]) -> list[int | None]:
    """Per common day: minutes between the closest pair of start times (None: a time missing)."""
    out: list[int | None] = []
    ma, mb = a.day_minutes, b.day_minutes
    for day in common:
        xs, ys = ma.get(day), mb.get(day)
        out.append(min(clock_delta(x, y) for x in xs for y in ys) if xs and ys else None)
    return out


def date_signal(a: EventRecord, b: EventRecord, cfg: DateConfig) -> float:
    """Day overlap × time agreement.

    Jaccard of the covered days (§4.1), but a listing whose days are all
    contained in the other's (one day of a multi-day festival, a subset of a
    schedule) scores at least ``subset_score``. Per common day the *closest*
    pair of start times counts (not just the first); a missing time is no
    evidence either way (1.0).
    """
    da, db = a.days, b.days
    delta: int | None  # minutes between start times (None: a time missing)
    if not da or not db:
        return 0.0
    if len(da) == 1 and len(db) == 1:
        # the common case, same arithmetic as below: one common day, all start
        # times lie on it
        if da[0] != db[0]:
            return 0.0
        overlap = max(1.0, cfg.subset_score)
        ta, tb = a.day_times, b.day_times
        if not ta or not tb:
            return overlap
        if len(ta) == 1 and len(tb) == 1:
            d = abs(ta[0][1] - tb[0][1]) % 1440
            delta = d if d <= 720 else 1440 - d  # clock_delta
        else:
            delta = min(clock_delta(x, y) for _, x in ta for _, y in tb)
        return overlap * time_factor(delta, cfg)
    common = common_days(a, b)
    if not common:
        return 0.0
    n = len(common)
    overlap = n / (len(da) + len(db) - n)
    if n == len(da) or n == len(db):
        overlap = max(overlap, cfg.subset_score)
    if not a.day_times or not b.day_times:
        return overlap
    # best_time_deltas + time_factor per common day; a range repeats its start times
    # on every day, so the factor of the previous day's times is reused
    total = 0.0
    ma, mb = a.day_minutes, b.day_minutes
    last: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    factor = 1.0
    for day in common:
        xs, ys = ma.get(day), mb.get(day)
        if xs and ys:
            if last is None or last[0] != xs or last[1] != ys:
                factor = time_factor(min(clock_delta(x, y) for x in xs for y in ys), cfg)
                last = (xs, ys)
            total += factor
        else:
            total += 1.0
    return overlap * (total / n)


def time_conflict(a: EventRecord, b: EventRecord, cfg: DateConfig) -> bool:
    """True when both give start times on a common day and none agree within tolerance."""
    ta: dict[str, list[int]] = {}
    for day, m in a.day_times:
        ta.setdefault(day, []).append(m)
    conflict = False
    for day, m in b.day_times:
        xs = ta.get(day)
        if not xs:
            continue
        if min(clock_delta(x, m) for x in xs) <= cfg.time_tolerance_minutes:
            return False
        conflict = True
    return conflict


# --------------------------------------------------------------------------- geo


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


_radians, _sin, _asin, _sqrt = math.radians, math.sin, math.asin, math.sqrt


def in_bbox(lat: float, lon: float, bbox: Sequence[float]) -> bool:
    return bbox[0] <= lat <= bbox[1] and bbox[2] <= lon <= bbox[3]


def venue_similarity(a: str, b: str) -> float:
    """Venue names: 'Scala Kino' ~ 'Kino Scala' ~ 'Scala-Kino Haslach'."""
    if not a or not b:
        return 0.0
    key = (a, b)
    hit = _VENUE_SIMILARITY.get(key)
    if hit is None:  # venue names repeat across many pairs
        hit = max(fuzz.token_sort_ratio(a, b), fuzz.token_set_ratio(a, b)) / 100.0
        if len(_VENUE_SIMILARITY) > 100_000:
            _VENUE_SIMILARITY.clear()
        _VENUE_SIMILARITY[key] = hit
    return hit


_VENUE_SIMILARITY: dict[tuple[str, str], float] = {}
register_cache(_VENUE_SIMILARITY.clear)


def geo_score_from(
    lat_a: float | None,
    lon_a: float | None,
    conf_a: float | None,
    lat_b: float | None,
    lon_b: float | None,
    conf_b: float | None,
    venue_a: str,
    venue_b: str,
    cfg: GeoConfig,
) -> float:
    """§4.2 on plain values: neutral when missing/untrusted, linear fall-off, venue check."""
    if lat_a is None or lon_a is None or lat_b is None or lon_b is None:
        return cfg.neutral_score
    if not in_bbox(lat_a, lon_a, cfg.region_bbox) or not in_bbox(lat_b, lon_b, cfg.region_bbox):
        return cfg.neutral_score  # geocoder outlier: no evidence (§13)
    eps = cfg.identical_epsilon_deg
    identical = abs(lat_a - lat_b) <= eps and abs(lon_a - lon_b) <= eps
    if not identical:
        for c in (conf_a, conf_b):
            if c is not None and c < cfg.min_confidence:
                return cfg.neutral_score
    dist = 0.0 if identical else haversine_km(lat_a, lon_a, lat_b, lon_b)
    score = max(0.0, 1.0 - dist / cfg.max_distance_km)
    if (
        dist < cfg.venue_match_distance_km
        and venue_a
        and venue_b
        and venue_similarity(venue_a, venue_b) < cfg.venue_similarity_cut
    ):
        score *= cfg.venue_mismatch_factor
    return score


def geo_signal(a: EventRecord, b: EventRecord, cfg: GeoConfig) -> float:
    return geo_and_distance(a, b, cfg)[0]


def geo_and_distance(a: EventRecord, b: EventRecord, cfg: GeoConfig) -> tuple[float, float | None]:
    """(``geo_signal``, ``distance_km``) with one distance computation."""
    lat_a, lon_a, lat_b, lon_b = a.geo_latitude, a.geo_longitude, b.geo_latitude, b.geo_longitude
    if lat_a is None or lon_a is None or lat_b is None or lon_b is None:
        return cfg.neutral_score, None
    box = cfg.region_bbox
    if not (
        box[0] <= lat_a <= box[1]
        and box[2] <= lon_a <= box[3]
        and box[0] <= lat_b <= box[1]
        and box[2] <= lon_b <= box[3]
    ):
        return cfg.neutral_score, None  # geocoder outlier: no evidence (§13)
    # haversine_km, inlined (the same operations in the same order; the latitudes'
    # radians and cosines are the records')
    p1, p2 = a.lat_radians, b.lat_radians
    dl = _radians(lon_b - lon_a)
    h = _sin((p2 - p1) / 2) ** 2 + a.lat_cos * b.lat_cos * _sin(dl / 2) ** 2
    dist = 2 * EARTH_RADIUS_KM * _asin(min(1.0, _sqrt(h)))
    eps = cfg.identical_epsilon_deg
    identical = abs(lat_a - lat_b) <= eps and abs(lon_a - lon_b) <= eps
    if not identical:
        for c in (a.geo_confidence, b.geo_confidence):
            if c is not None and c < cfg.min_confidence:
                return cfg.neutral_score, dist
    d = 0.0 if identical else dist
    score = max(0.0, 1.0 - d / cfg.max_distance_km)
    if (
        d < cfg.venue_match_distance_km
        and a.venue_norm
        and b.venue_norm
        and venue_similarity(a.venue_norm, b.venue_norm) < cfg.venue_similarity_cut
    ):
        score *= cfg.venue_mismatch_factor
    return score, dist


def distance_km(a: EventRecord, b: EventRecord, cfg: GeoConfig) -> float | None:
    """Distance if both points are inside the region box, else None (any confidence)."""
    if not a.has_geo or not b.has_geo:
        return None
    assert a.geo_latitude is not None and a.geo_longitude is not None
    assert b.geo_latitude is not None and b.geo_longitude is not None
    if not in_bbox(a.geo_latitude, a.geo_longitude, cfg.region_bbox) or not in_bbox(
        b.geo_latitude, b.geo_longitude, cfg.region_bbox
    ):
        return None
    return haversine_km(a.geo_latitude, a.geo_longitude, b.geo_latitude, b.geo_longitude)


# --------------------------------------------------------------------------- title


def blended_title_similarity(a: str, b: str, blend: TitleBlend) -> float:
    """§4.4: token_sort, blended with token_set inside the window."""
    if not a or not b:
        return 0.0
    p = fuzz.token_sort_ratio(a, b) / 100.0
    if blend.blend_lower <= p <= blend.blend_upper:
        s = fuzz.token_set_ratio(a, b) / 100.0
        return blend.primary_weight * p + blend.secondary_weight * s
    return p


def title_blend_for(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> TitleBlend:
    if a.source_type != b.source_type and {a.source_type, b.source_type} <= CROSS_TYPES:
        return cfg.title.cross_source_type
    return cfg.title.default_blend


def title_signal(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> float:
    """Best blended similarity over the normalised title variants of both sides.

    Variants (prefix stripped, own town removed) are generated identically for
    both listings, so a label on one side only does not lower the score
    (§17 item 9).
    """
    fa, fb = a.title_forms, b.title_forms
    if not fa or not fb:
        return 0.0
    # title_blend_for without building a TitleBlend per pair
    t = cfg.title
    sa, sb = a.source_type, b.source_type
    if sa != sb and sa in CROSS_TYPES and sb in CROSS_TYPES:
        c = t.cross_source_type
        w1, w2, lo, hi = c.primary_weight, c.secondary_weight, c.blend_lower, c.blend_upper
    else:
        w1, w2, lo, hi = t.primary_weight, t.secondary_weight, t.blend_lower, t.blend_upper
    ratio = fuzz.ratio
    if len(fa) == 1 and len(fb) == 1:
        p = ratio(a.title_sorted[0], b.title_sorted[0]) / 100.0
        if lo <= p <= hi:
            p = w1 * p + w2 * (fuzz.token_set_ratio(fa[0], fb[0]) / 100.0)
        return p if p > 0.0 else 0.0
    # the same two titles meet in many pairs (several sources list one event)
    key = (fa, fb, w1, w2, lo, hi)
    best = _TITLE.get(key)
    if best is not None:
        return best
    best = 0.0
    for x, xs in zip(fa, a.title_sorted, strict=True):
        for y, ys in zip(fb, b.title_sorted, strict=True):
            # token_sort_ratio == ratio of the pre-sorted token strings
            p = ratio(xs, ys) / 100.0
            if lo <= p <= hi:
                if w1 * p + w2 <= best:
                    continue  # token_set_ratio ≤ 100: the blend cannot beat best
                s = _TOKEN_SET.get((x, y))
                if s is None:  # the same two forms meet in many pairs
                    if len(_TOKEN_SET) > 100_000:
                        _TOKEN_SET.clear()
                    s = _TOKEN_SET[(x, y)] = fuzz.token_set_ratio(x, y) / 100.0
                p = w1 * p + w2 * s
            if p > best:
                best = p
    if len(_TITLE) > 100_000:
        _TITLE.clear()
    _TITLE[key] = best
    return best


#: title_signal of titles with several forms, by (forms, forms, blend)
_TITLE: dict[tuple[tuple[str, ...], tuple[str, ...], float, float, float, float], float] = {}
register_cache(_TITLE.clear)
_TOKEN_SET: dict[tuple[str, str], float] = {}
register_cache(_TOKEN_SET.clear)


# --------------------------------------------------------------------------- description


def description_signal(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> float:
    """§4.5 on normalised (case-insensitive) text; best pairing of long/short texts."""
    ta, tb = a.texts_sorted, b.texts_sorted
    if not ta and not tb:
        return cfg.description.both_empty
    if not ta or not tb:
        return cfg.description.one_empty
    ratio = fuzz.ratio
    if len(ta) == 1 and len(tb) == 1:
        return ratio(ta[0], tb[0]) / 100.0
    best = 0.0
    for x in ta:
        if x in tb:
            return 1.0  # ratio of a text with itself is 100: the maximum
        for y in tb:
            r = ratio(x, y)
            if r > best:
                best = r
    return best / 100.0
