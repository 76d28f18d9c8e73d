"""Stable canonical ids across re-clustering (docs/domain.md §17 item 1: ids must not churn).

The caller (DB shell) applies the result mechanically:

* ``assignments[i] = (members, id)``: link exactly these members to ``id``;
  ``id is None`` means "create a new canonical" (listed in ``created``);
* ``merged[lost] = survivor``: delete ``lost`` and record a redirect;
* ``split[id] = (...)``: ``id`` keeps a part, the listed clusters took the rest;
* ``emptied``: previous ids that keep no member and were not merged (delete).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import attrs

CanonicalId = int | str


@attrs.frozen
class CanonicalAssignment:
    assignments: tuple[tuple[frozenset[str], CanonicalId | None], ...]
    created: tuple[int, ...] = ()
    merged: Mapping[CanonicalId, CanonicalId] = attrs.field(factory=dict)
    split: Mapping[CanonicalId, tuple[int, ...]] = attrs.field(factory=dict)
    emptied: tuple[CanonicalId, ...] = ()

    def id_of(self, event_id: str) -> CanonicalId | None:
        for members, cid in self.assignments:
            if event_id in members:
                return cid
        raise KeyError(event_id)


def _sort_key(cid: CanonicalId) -> tuple[int, int | str]:
    # ints before strings, each in natural order: deterministic for mixed ids
    return (0, cid) if isinstance(cid, int) else (1, cid)


def assign_canonical_ids(
    clusters: Sequence[frozenset[str]], previous: Mapping[str, CanonicalId]
) -> CanonicalAssignment:
    """Give each cluster the id of the previous canonical it overlaps most.

    Greedy over (overlap desc, id asc, cluster order): each previous id goes to
    at most one cluster, each cluster gets at most one id. A previous canonical
    whose members now all sit in clusters carrying other ids is *merged* into
    the cluster holding most of its members.
    """
    clusters = sorted((frozenset(c) for c in clusters), key=lambda c: min(c) if c else "")
    overlaps: list[tuple[int, tuple[int, int | str], int, CanonicalId]] = []
    for n, members in enumerate(clusters):
        counts = Counter(previous[m] for m in members if m in previous)
        for cid, k in counts.items():
            overlaps.append((-k, _sort_key(cid), n, cid))
    overlaps.sort(key=lambda t: (t[0], t[1], t[2]))
    given: dict[int, CanonicalId] = {}
    used: set[CanonicalId] = set()
    for _, _, n, cid in overlaps:
        if n in given or cid in used:
            continue
        given[n] = cid
        used.add(cid)

    assignments = tuple((c, given.get(n)) for n, c in enumerate(clusters))
    created = tuple(n for n in range(len(clusters)) if n not in given)
    prev_ids = sorted(set(previous.values()), key=_sort_key)
    # which clusters hold each previous canonical's members, and how many: one pass
    holders_of: dict[CanonicalId, Counter[int]] = {}
    for n, members in enumerate(clusters):
        for m in members:
            if m in previous:
                holders_of.setdefault(previous[m], Counter())[n] += 1
    cluster_of = {cid: n for n, cid in given.items()}
    merged: dict[CanonicalId, CanonicalId] = {}
    split: dict[CanonicalId, tuple[int, ...]] = {}
    emptied: list[CanonicalId] = []
    for cid in prev_ids:
        holders = holders_of.get(cid, Counter())
        if cid in used:
            own = cluster_of[cid]
            others = tuple(sorted(n for n in holders if n != own))
            if others:
                split[cid] = others
            continue
        if not holders:
            emptied.append(cid)
            continue
        best = sorted(holders.items(), key=lambda t: (-t[1], t[0]))[0][0]
        target = given.get(best)
        if target is None:
            emptied.append(cid)  # its members went to brand-new clusters only
        else:
            merged[cid] = target
    return CanonicalAssignment(assignments, created, merged, split, tuple(emptied))
