"""Clusters from pair decisions: components over match edges, then constraint-aware repair.

Repair is Kruskal-style: must-links first, then match edges from strongest to
weakest; an edge is *not* applied when the union would put a cannot-link pair
(manual, or a strong pairwise disagreement) into one cluster, exceed the size
limit, or chain too many single-day listings of different days. A component
without violations therefore comes out exactly as its connected component;
an incoherent one is split along its weakest edges (docs/domain.md §17 item 6) instead of
merely being flagged. The result depends only on (members, edges,
constraints), never on input order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter

import attrs

from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import MATCH, NO_MATCH, SAME_LISTING, PairScore
from eventdedup.matching.pairmodel import GUARD_PREFIXES


@attrs.frozen
class ClusterResult:
    """The clusters; what to ask an operator about them is ``matching.review.build_queue``."""

    clusters: tuple[frozenset[str], ...]
    # clusters whose component had to be split (indices into ``clusters``)
    repaired: tuple[int, ...] = ()


def _pair(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


class _Groups:
    """Union-find that also tracks member sets (small components, so sets are fine)."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.parent = {i: i for i in ids}
        self.members = {i: {i} for i in self.parent}

    def find(self, x: str) -> str:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, x: str, y: str) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx == ry:
            return
        if ry < rx:
            rx, ry = ry, rx
        self.parent[ry] = rx
        self.members[rx] |= self.members.pop(ry)


def strong_disagreement(edge: PairScore, cfg: MatchingConfig) -> bool:
    """A no-match backed by a guard, a very low score or a very low P: never in one cluster."""
    if edge.decision != NO_MATCH:
        return False
    if edge.combined <= cfg.cluster.disagreement_combined:
        return True
    if edge.reason.startswith(GUARD_PREFIXES) and not edge.reason.endswith(SAME_LISTING):
        return True
    # the pair model is confident they differ (-1: stored before the model existed)
    return cfg.model.enabled and 0.0 <= edge.probability < cfg.model.different_below


def cluster_component(
    member_ids: Iterable[str],
    edges: Sequence[PairScore],
    must_link: Sequence[tuple[str, str]],
    cannot_link: Sequence[tuple[str, str]],
    cfg: MatchingConfig,
    days: dict[str, tuple[str, ...]] | None = None,
) -> ClusterResult:
    """Cluster ``member_ids`` (may hold several components); see module docstring.

    ``days`` (id -> covered days) enables the date-spread rule; without it
    only size and constraints are enforced.
    """
    ids = sorted(set(member_ids))
    idset = set(ids)
    inside = sorted(
        (e for e in edges if e.a_id in idset and e.b_id in idset and e.a_id != e.b_id),
        key=attrgetter("a_id", "b_id"),
    )
    hard_cannot = {_pair(x, y) for x, y in cannot_link if x in idset and y in idset}
    # Only ids on a match edge or must-link are ever united; a disagreement that
    # touches any other id can never block a union, so it is not indexed.
    linkable = {x for e in inside if e.decision == MATCH for x in (e.a_id, e.b_id)}
    linkable.update(x for pair in must_link for x in pair if x in idset)
    soft_cannot = {
        (e.a_id, e.b_id)
        for e in inside
        if e.a_id in linkable and e.b_id in linkable and strong_disagreement(e, cfg)
    }
    forbidden = hard_cannot | soft_cannot

    groups = _Groups(ids)
    for x, y in sorted(_pair(x, y) for x, y in must_link if x in idset and y in idset):
        groups.union(x, y)
    for x, y in hard_cannot:
        if groups.find(x) == groups.find(y):
            raise ValueError(f"contradictory constraints: {x} and {y} are must- and cannot-linked")

    # which ids are forbidden to share a cluster with which
    banned: dict[str, set[str]] = {}
    for x, y in forbidden:
        banned.setdefault(x, set()).add(y)
        banned.setdefault(y, set()).add(x)

    max_size = cfg.cluster.max_cluster_size
    max_days = cfg.cluster.max_distinct_dates

    def blocked(ma: set[str], mb: set[str]) -> str | None:
        if len(ma) + len(mb) > max_size:
            return f"size > {max_size}"
        small, big = (ma, mb) if len(ma) <= len(mb) else (mb, ma)
        for x in sorted(small):
            hit = banned.get(x, set()) & big
            if hit:
                y = min(hit)
                kind = "cannot-link" if _pair(x, y) in hard_cannot else "disagreement"
                return f"{kind} between {min(x, y)} and {max(x, y)}"
        if days is not None:
            members = ma | mb
            if all(len(days.get(m, ())) <= 1 for m in members):
                spread = {d for m in members for d in days.get(m, ())}
                if len(spread) > max_days:
                    return f"{len(spread)} distinct dates among single-day listings"
        return None

    # strongest first; ``inside`` is sorted by (a_id, b_id) and the sort is stable
    matches = sorted(
        (e for e in inside if e.decision == MATCH), key=lambda e: (-e.probability, -e.combined)
    )
    rejected: list[tuple[PairScore, str]] = []
    for e in matches:
        ra, rb = groups.find(e.a_id), groups.find(e.b_id)
        if ra == rb:
            continue
        why = blocked(groups.members[ra], groups.members[rb])
        if why:
            rejected.append((e, why))
            continue
        groups.union(e.a_id, e.b_id)

    clusters = sorted((frozenset(m) for m in groups.members.values()), key=lambda c: min(c))
    index = {i: n for n, c in enumerate(clusters) for i in c}
    repaired = sorted({index[e.a_id] for e, _ in rejected} | {index[e.b_id] for e, _ in rejected})
    return ClusterResult(tuple(clusters), tuple(repaired))


def connected_components(
    member_ids: Iterable[str], edges: Iterable[PairScore], must_link: Iterable[tuple[str, str]] = ()
) -> list[frozenset[str]]:
    """Plain components over match edges + must-links (the stored graph's component ids)."""
    ids = sorted(set(member_ids))
    idset = set(ids)
    groups = _Groups(ids)
    for e in edges:
        if e.decision == MATCH and e.a_id in idset and e.b_id in idset:
            groups.union(e.a_id, e.b_id)
    for x, y in must_link:
        if x in idset and y in idset:
            groups.union(x, y)
    return sorted((frozenset(m) for m in groups.members.values()), key=lambda c: min(c))
