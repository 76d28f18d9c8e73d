"""In-memory model of the daemon's per-file processing (the DB processor mirrors it).

State kept per event: its record, its *component id* (connected components
over match edges + must-links) and its canonical id; per pair: the decision.
Processing one file:

1. prepare the new records; candidates = stored records sharing a blocking
   key; score ``candidate_pairs(new, candidates)``;
2. affected set = new events + every stored component a new event got a match
   edge (or must-link) into; load all their members and all stored decisions
   among them;
3. ``cluster_component`` over the affected set; ``assign_canonical_ids``
   against the previous canonical membership; ``synthesize`` every touched
   canonical with ``previous``; recompute component ids of the affected set.

Because scores are symmetric and clustering depends only on (members, edges,
constraints) of a match-connected component, the result equals ``dedupe_batch``
in any file order.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from eventdedup.matching.blocking import blocking_keys, candidate_pairs
from eventdedup.matching.canonical_ids import CanonicalAssignment, assign_canonical_ids
from eventdedup.matching.clustering import cluster_component, connected_components
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import MATCH, PairScore, score_pair
from eventdedup.matching.record import EventRecord, prepare_event
from eventdedup.matching.synthesis import Canonical, synthesize
from eventdedup.model import SourceEvent


@attrs.frozen
class IncrementalState:
    records: dict[str, EventRecord] = attrs.field(factory=dict)
    decisions: dict[tuple[str, str], PairScore] = attrs.field(factory=dict)
    key_index: dict[str, tuple[str, ...]] = attrs.field(factory=dict)  # blocking key -> ids
    component_of: dict[str, str] = attrs.field(factory=dict)
    canonical_of: dict[str, int] = attrs.field(factory=dict)
    canonicals: dict[int, Canonical] = attrs.field(factory=dict)
    next_canonical_id: int = 1
    must_link: tuple[tuple[str, str], ...] = ()
    cannot_link: tuple[tuple[str, str], ...] = ()

    def clusters(self) -> list[frozenset[str]]:
        groups: dict[int, set[str]] = {}
        for e, c in self.canonical_of.items():
            groups.setdefault(c, set()).add(e)
        return sorted((frozenset(g) for g in groups.values()), key=min)


@attrs.frozen
class FileReport:
    new_ids: tuple[str, ...]
    scored_pairs: int
    affected: tuple[str, ...]
    assignment: CanonicalAssignment
    changed_canonicals: tuple[int, ...]


def ingest_file(
    state: IncrementalState, events: Sequence[SourceEvent], cfg: MatchingConfig
) -> tuple[IncrementalState, FileReport]:
    """Process one file's events; returns the new state (the old one is not modified)."""
    new = [prepare_event(e, cfg) for e in events]
    new_ids = {r.id for r in new}
    if len(new_ids) != len(new) or new_ids & state.records.keys():
        raise ValueError("duplicate event id")
    records = {**state.records, **{r.id: r for r in new}}

    # 1. candidates via the key index (the DB: one query over (key, event_id))
    key_index = {k: list(v) for k, v in state.key_index.items()}
    cand_ids: set[str] = set()
    for r in new:
        for k in blocking_keys(r, cfg):
            cand_ids.update(key_index.get(k, ()))
    candidates = [records[i] for i in sorted(cand_ids)]
    pairs = candidate_pairs(sorted(new, key=lambda r: r.id), candidates, cfg)
    scores = [score_pair(records[a], records[b], cfg) for a, b in pairs]
    decisions = dict(state.decisions)
    decisions.update({s.key: s for s in scores})
    for r in new:
        for k in blocking_keys(r, cfg):
            key_index.setdefault(k, []).append(r.id)

    # 2. affected set: new events + components they touch by match edges / must-links
    touched_components = set()
    for s in scores:
        if s.decision != MATCH:
            continue
        for x in (s.a_id, s.b_id):
            if x not in new_ids:
                touched_components.add(state.component_of[x])
    for x, y in state.must_link:
        if x in new_ids and y in state.component_of:
            touched_components.add(state.component_of[y])
        if y in new_ids and x in state.component_of:
            touched_components.add(state.component_of[x])
    affected = set(new_ids) | {e for e, c in state.component_of.items() if c in touched_components}
    edges = [d for (a, b), d in decisions.items() if a in affected and b in affected]

    # 3. cluster, keep ids stable, re-synthesize what changed
    result = cluster_component(
        affected,
        edges,
        state.must_link,
        state.cannot_link,
        cfg,
        days={i: records[i].days for i in affected},
    )
    previous = {e: state.canonical_of[e] for e in affected if e in state.canonical_of}
    assignment = assign_canonical_ids(result.clusters, previous)
    canonical_of = dict(state.canonical_of)
    canonicals = dict(state.canonicals)
    next_id = state.next_canonical_id
    changed: list[int] = []
    # CanonicalId is int | str; the ids of the in-memory state are all ints
    cid: int | str | None
    for cid in (*assignment.merged.keys(), *assignment.emptied):
        canonicals.pop(cid, None)  # type: ignore[arg-type]
    for members, cid in assignment.assignments:
        if cid is None:
            cid, next_id = next_id, next_id + 1
        prev = canonicals.get(cid) if cid in canonicals else None
        member_edges = [d for d in edges if d.a_id in members and d.b_id in members]
        canon = synthesize([records[m] for m in sorted(members)], member_edges, prev, cfg)
        if prev is None or canon != prev:
            changed.append(int(cid))
        canonicals[int(cid)] = canon
        for m in members:
            canonical_of[m] = int(cid)
    component_of = dict(state.component_of)
    for comp in connected_components(affected, edges, state.must_link):
        cid_str = min(comp)
        for m in comp:
            component_of[m] = cid_str

    new_state = attrs.evolve(
        state,
        records=records,
        decisions=decisions,
        key_index={k: tuple(v) for k, v in key_index.items()},
        component_of=component_of,
        canonical_of=canonical_of,
        canonicals=canonicals,
        next_canonical_id=next_id,
    )
    report = FileReport(
        new_ids=tuple(sorted(new_ids)),
        scored_pairs=len(scores),
        affected=tuple(sorted(affected)),
        assignment=assignment,
        changed_canonicals=tuple(sorted(changed)),
    )
    return new_state, report
