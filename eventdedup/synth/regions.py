"""Corpora for measuring replicas: several regions side by side, or several periods of one.

Region ``k`` is a corpus of its own (generator seed ``seed + k``, vocabulary
seed ``VOCAB_SEEDS[k]``: its own towns, venues and names) moved ``k * LON_SHIFT``
degrees east, with its event ids and source codes marked with ``k``.  Regions
share no town, venue or point; they can share a title word on a day (the
kinds' fixed words, e.g. "Posaunenchor"), which makes those events candidates
of each other, as in real data.  :func:`regions_overrides` widens the trusted
box of the matching configuration to cover every region.

Period ``k`` is the same region (same seed, towns and sources) starting
``k * PERIOD_YEARS`` years later: an archive backfilled in parts.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from typing import Any

from eventdedup.synth.generator import GeneratedFile, generate, take

#: degrees of longitude between two regions (a region is ~1.2° wide)
LON_SHIFT = 1.5
#: years between two periods (more than any generated period spans at ~300 listings a day)
PERIOD_YEARS = 3
#: vocabulary seed of each region (None: the base vocabulary)
VOCAB_SEEDS: tuple[int | None, ...] = (None, 11, 12, 13, 14, 15, 16)
_BOX = (47.5, 48.5, 7.3, 8.5)


def region_files(
    k: int, events: int, *, seed: int = 1, file_events: int = 200
) -> list[GeneratedFile]:
    """The files of region ``k``, ``events`` events in all."""
    stream = generate(seed + k, file_events=file_events, vocab_seed=VOCAB_SEEDS[k])
    return [_moved(f, k) for f in take(stream, events)]


def period_files(
    k: int, events: int, *, seed: int = 1, file_events: int = 200
) -> list[GeneratedFile]:
    """The files of period ``k`` of region 0, ``events`` events in all."""
    start = dt.date(2018 + PERIOD_YEARS * k, 1, 1)
    stream = generate(seed, file_events=file_events, start=start)
    return [_moved(f, k, shift=False) for f in take(stream, events)]


def interleaved(
    parts: int, events: int, *, seed: int = 1, periods: bool = False
) -> list[GeneratedFile]:
    """``events`` events of ``parts`` regions (or periods), their files taken in turn."""
    make = period_files if periods else region_files
    per = [make(k, events // parts, seed=seed) for k in range(parts)]
    return [f for group in itertools.zip_longest(*per) for f in group if f is not None]


def regions_overrides(regions: int) -> dict[str, Any]:
    """Matching overrides that trust points in every region's box."""
    lat_min, lat_max, lon_min, lon_max = _BOX
    box = [lat_min, lat_max, lon_min, lon_max + LON_SHIFT * (regions - 1)]
    return {"geo": {"region_bbox": box}, "blocking": {"region_bbox": box}}


def _moved(f: GeneratedFile, k: int, *, shift: bool = True) -> GeneratedFile:
    if k == 0:
        return f
    doc = copy.deepcopy(f.document)
    for e in doc["events"]:
        e["id"] = f"r{k}-{e['id']}"
        geo = (e.get("location") or {}).get("geo")
        if shift and geo and geo.get("longitude") is not None:
            geo["longitude"] = geo["longitude"] + LON_SHIFT * k
    code, _, rest = f.name.partition("_")
    truth = [(f"r{k}-{i}", f"r{k}-{key}", g and f"r{k}-{g}") for i, key, g in f.truth]
    return GeneratedFile(f"{code}{k}_{rest}", doc, truth)
