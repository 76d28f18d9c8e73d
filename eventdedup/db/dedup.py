"""Incremental matching against what is stored: the storage side of the dedup engine.

For each file, inside the file's transaction:

1. prepare the new events (normalized record, blocking keys) and store both;
2. fetch the stored events sharing a blocking key with any new event — one
   indexed query per file, never a scan of the store;
3. score the candidate pairs and store every decision;
4. merge the match-graph *components* the new match edges connect (each event
   carries a component id: connected over match edges and must-links);
5. re-cluster the affected components with ``cluster_component`` — the same
   pure function a batch run applies to the whole graph, which is why file-by-
   file ingestion ends in the same clusters as one big batch;
6. keep canonical ids stable (``assign_canonical_ids``), re-synthesize only
   the canonicals whose membership changed, record redirects for merged ids,
   refresh the review queue of the affected components, and return the feed
   messages.

The cost depends on the file and the blocks it touches, not on the size of the
store.  A transaction-scoped advisory lock serialises this step across
replicas, so two daemons never re-cluster the same component concurrently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.tables import (
    canonical_events,
    canonical_redirects,
    event_blocking_keys,
    match_constraints,
    match_decisions,
    review_items,
    source_events,
)
from eventdedup.matching import (
    Canonical,
    EventRecord,
    MatchingConfig,
    PairScore,
    ReviewItem,
    assign_canonical_ids,
    blocking_keys,
    candidate_pairs,
    cluster_component,
    prepare_event,
    score_pair,
    synthesize,
)
from eventdedup.model import SourceEvent

MATCH_LOCK = 0x6576_6D61  # "evma"

Messages = list[tuple[str, Mapping[str, Any]]]


@attrs.define
class _Member:
    record: EventRecord
    canonical_id: int | None


class DbDeduplicator:
    """Implements ``eventdedup.pipeline.Deduplicator`` on PostgreSQL."""

    def __init__(self, cfg: MatchingConfig) -> None:
        self.cfg = cfg

    def apply(self, conn: Connection, events: Sequence[SourceEvent]) -> Messages:
        if not events:
            return []
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MATCH_LOCK)))
        records = [prepare_event(e, self.cfg) for e in events]
        new_ids = [r.id for r in records]
        keys = {r.id: blocking_keys(r, self.cfg) for r in records}
        components = self._store_records(conn, records, keys)

        stored = self._candidates(conn, sorted({k for ks in keys.values() for k in ks}), new_ids)
        by_id = {r.id: r for r in records} | {m.record.id: m.record for m in stored.values()}
        pairs = candidate_pairs(records, [m.record for m in stored.values()], self.cfg)
        scores = [score_pair(by_id[a], by_id[b], self.cfg) for a, b in pairs]
        _insert_decisions(conn, scores)

        stored_components = _components_of(conn, [m.record.id for m in stored.values()])
        components.update(stored_components)
        affected = _merge_components(conn, components, scores, new_ids)
        return self.recluster(conn, affected)

    # -- steps ---------------------------------------------------------------------------------

    def _store_records(self, conn: Connection, records: Sequence[EventRecord],
                       keys: Mapping[str, Sequence[str]]) -> dict[str, int]:
        ids = conn.execute(
            sa.select(sa.func.nextval("component_ids"))
            .select_from(sa.func.generate_series(1, len(records)))
        ).scalars().all()
        components = {r.id: int(c) for r, c in zip(records, ids, strict=True)}
        conn.execute(
            sa.text("UPDATE source_events SET record = v.record, component_id = v.component "
                    "FROM unnest(CAST(:ids AS text[]), CAST(:records AS jsonb[]), "
                    "CAST(:components AS bigint[])) AS v(id, record, component) "
                    "WHERE source_events.id = v.id"),
            {"ids": [r.id for r in records],
             "records": [json.dumps(r.to_json(), ensure_ascii=False) for r in records],
             "components": [components[r.id] for r in records]},
        )
        _copy(conn, "event_blocking_keys", ("key", "event_id"),
              [(k, r.id) for r in records for k in dict.fromkeys(keys[r.id])])
        return components

    def _candidates(self, conn: Connection, keys: Sequence[str],
                    new_ids: Sequence[str]) -> dict[str, _Member]:
        if not keys:
            return {}
        matching = (sa.select(event_blocking_keys.c.event_id)
                    .where(event_blocking_keys.c.key == sa.any_(sa.literal(list(keys),
                                                                           _TEXT_ARRAY))))
        rows = conn.execute(
            sa.select(source_events.c.id, source_events.c.record, source_events.c.canonical_id)
            .where(source_events.c.id.in_(matching))
            .where(source_events.c.id.not_in(list(new_ids)))
            .where(source_events.c.record.is_not(None))
        )
        return {r.id: _Member(EventRecord.from_json(r.record), r.canonical_id) for r in rows}

    def recluster(self, conn: Connection, component_ids: Sequence[int]) -> Messages:
        """Re-cluster whole components (after new edges or changed constraints)."""
        members = _load_members(conn, component_ids)
        ids = sorted(members)
        edges = _load_decisions(conn, ids)
        must, cannot = _load_constraints(conn, ids)
        result = cluster_component(ids, edges, must, cannot, self.cfg,
                                   days={i: m.record.days for i, m in members.items()})
        previous = {i: m.canonical_id for i, m in members.items() if m.canonical_id is not None}
        assignment = assign_canonical_ids(result.clusters, previous)
        old_members: dict[int, set[str]] = {}
        for i, cid in previous.items():
            old_members.setdefault(cid, set()).add(i)
        old = _load_canonicals(conn, sorted(old_members))

        messages: Messages = []
        links: dict[str, int] = {}
        created: list[tuple[frozenset[str], Canonical]] = []
        updated: dict[int, Canonical] = {}
        for cluster, cid in assignment.assignments:
            if cid is not None and old_members.get(int(cid)) == set(cluster):
                continue  # membership unchanged: nothing to re-synthesize
            member_records = [members[i].record for i in sorted(cluster)]
            inside = [e for e in edges if e.a_id in cluster and e.b_id in cluster]
            if cid is None:
                created.append((cluster, synthesize(member_records, inside, None, self.cfg)))
                continue
            cid = int(cid)
            before = old[cid]
            enrich = old_members.get(cid, set()) <= set(cluster)
            canonical = synthesize(member_records, inside, before if enrich else None, self.cfg)
            canonical = attrs.evolve(canonical, version=before.version + 1)
            updated[cid] = canonical
            links.update(dict.fromkeys(cluster, cid))
            messages.append(("canonical.updated", {
                **_summary(cid, canonical), "changed": canonical.changed_fields(before)}))
        _update_canonicals(conn, updated)
        new_ids = _insert_canonicals(conn, [c for _, c in created])
        for (cluster, canonical), new_id in zip(created, new_ids, strict=True):
            links.update(dict.fromkeys(cluster, new_id))
            messages.append(("canonical.created", _summary(new_id, canonical)))
        _link_all(conn, links)
        for lost, survivor in sorted(assignment.merged.items()):
            _redirect(conn, int(lost), int(survivor))
            messages.append(("canonical.merged", {"canonical_id": int(survivor),
                                                  "merged": int(lost)}))
        for gone in assignment.emptied:
            conn.execute(canonical_events.delete().where(canonical_events.c.id == int(gone)))
            messages.append(("canonical.removed", {"canonical_id": int(gone)}))
        messages.extend(_refresh_review(conn, ids, result.review))
        return messages


# -- queries -----------------------------------------------------------------------------------

_TEXT_ARRAY = sa.ARRAY(sa.Text)


def _ids_param(ids: Iterable[str]) -> Any:
    return sa.literal(list(ids), _TEXT_ARRAY)


def _copy(conn: Connection, table: str, columns: Sequence[str],
          rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-load rows with COPY inside the caller's transaction."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur, cur.copy(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)


def _insert_decisions(conn: Connection, scores: Sequence[PairScore]) -> None:
    _copy(conn, "match_decisions", ("a_id", "b_id", "decision", "combined", "score"),
          ((s.a_id, s.b_id, s.decision, s.combined, json.dumps(s.to_json())) for s in scores))


def _components_of(conn: Connection, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(source_events.c.id, source_events.c.component_id)
                        .where(source_events.c.id == sa.any_(_ids_param(ids))))
    return {r.id: r.component_id for r in rows}


def _merge_components(conn: Connection, components: Mapping[str, int],
                      scores: Sequence[PairScore], new_ids: Sequence[str]) -> list[int]:
    """Union the components joined by new match edges; return the affected component ids."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in new_ids:
        find(components[i])
    for s in scores:
        if s.decision == "match":
            ra, rb = find(components[s.a_id]), find(components[s.b_id])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = {}
    for c in list(parent):
        groups.setdefault(find(c), []).append(c)
    for root, members in groups.items():
        others = [c for c in members if c != root]
        if others:
            conn.execute(source_events.update()
                         .where(source_events.c.component_id.in_(others))
                         .values(component_id=root))
    return sorted(groups)


def _load_members(conn: Connection, component_ids: Sequence[int]) -> dict[str, _Member]:
    rows = conn.execute(
        sa.select(source_events.c.id, source_events.c.record, source_events.c.canonical_id)
        .where(source_events.c.component_id.in_(list(component_ids)))
    )
    return {r.id: _Member(EventRecord.from_json(r.record), r.canonical_id) for r in rows}


def _load_decisions(conn: Connection, ids: Sequence[str]) -> list[PairScore]:
    param = _ids_param(ids)
    rows = conn.execute(
        sa.select(match_decisions.c.score)
        .where(match_decisions.c.a_id == sa.any_(param))
        .where(match_decisions.c.b_id == sa.any_(param))
        .order_by(match_decisions.c.a_id, match_decisions.c.b_id)
    )
    return [PairScore.from_json(r.score) for r in rows]


def _load_constraints(conn: Connection, ids: Sequence[str]
                      ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    param = _ids_param(ids)
    rows = conn.execute(
        sa.select(match_constraints.c.a_id, match_constraints.c.b_id, match_constraints.c.kind)
        .where(match_constraints.c.a_id == sa.any_(param))
        .where(match_constraints.c.b_id == sa.any_(param))
    )
    must: list[tuple[str, str]] = []
    cannot: list[tuple[str, str]] = []
    for r in rows:
        (must if r.kind == "must_link" else cannot).append((r.a_id, r.b_id))
    return must, cannot


def _load_canonicals(conn: Connection, ids: Sequence[int]) -> dict[int, Canonical]:
    if not ids:
        return {}
    rows = conn.execute(sa.select(canonical_events.c.id, canonical_events.c.data)
                        .where(canonical_events.c.id.in_(list(ids))))
    return {r.id: Canonical.from_json(r.data) for r in rows}


def _columns(canonical: Canonical) -> dict[str, Any]:
    return {
        "title": canonical.title,
        "location_city": canonical.location_city,
        "first_date": canonical.first_date,
        "last_date": canonical.last_date,
        "categories": list(canonical.categories),
        "source_count": canonical.source_count,
        "match_confidence": canonical.match_confidence,
        "needs_review": canonical.needs_review,
        "version": canonical.version,
        "data": canonical.to_json(),
    }


def _insert_canonicals(conn: Connection, canonicals: Sequence[Canonical]) -> list[int]:
    """Insert in one round trip; ids come back in parameter order."""
    if not canonicals:
        return []
    result = conn.execute(
        canonical_events.insert().returning(canonical_events.c.id, sort_by_parameter_order=True),
        [_columns(c) for c in canonicals],
    )
    return [r.id for r in result]


def _update_canonicals(conn: Connection, updates: Mapping[int, Canonical]) -> None:
    if not updates:
        return
    conn.execute(
        canonical_events.update().where(canonical_events.c.id == sa.bindparam("b_cid"))
        .values(updated_at=sa.func.now()),
        [{"b_cid": cid, **_columns(c)} for cid, c in sorted(updates.items())],
    )


def _link_all(conn: Connection, links: Mapping[str, int]) -> None:
    """Point every member at its canonical in one statement."""
    if not links:
        return
    ids = sorted(links)
    conn.execute(
        sa.text("UPDATE source_events SET canonical_id = v.cid "
                "FROM unnest(CAST(:ids AS text[]), CAST(:cids AS bigint[])) AS v(id, cid) "
                "WHERE source_events.id = v.id AND source_events.canonical_id "
                "IS DISTINCT FROM v.cid"),
        {"ids": ids, "cids": [links[i] for i in ids]})


def _redirect(conn: Connection, lost: int, survivor: int) -> None:
    """``lost`` now resolves to ``survivor`` — also for ids that pointed at ``lost``."""
    conn.execute(canonical_redirects.update().where(canonical_redirects.c.new_id == lost)
                 .values(new_id=survivor))
    conn.execute(canonical_redirects.insert().values(old_id=lost, new_id=survivor))
    conn.execute(canonical_events.delete().where(canonical_events.c.id == lost))


def _refresh_review(conn: Connection, ids: Sequence[str],
                    items: Sequence[ReviewItem]) -> Messages:
    """Bring the open review items of these events in line with the latest clustering.

    Items still raised keep their id (updated in place), items no longer raised
    are closed as resolved, and only new ones are announced.  Items an operator
    dismissed stay dismissed: an identical item is not raised again.
    """
    param = _ids_param(ids)
    touching = sa.or_(review_items.c.a_id == sa.any_(param), review_items.c.b_id == sa.any_(param))
    existing = {(r.kind, r.a_id, r.b_id): (r.id, r.state) for r in conn.execute(
        sa.select(review_items.c.id, review_items.c.kind, review_items.c.a_id,
                  review_items.c.b_id, review_items.c.state)
        .where(review_items.c.state.in_(["open", "dismissed"])).where(touching))}
    current: set[tuple[str, str, str]] = set()
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for item in items:
        event_ids = list(item.event_ids)
        key = (item.kind, event_ids[0], event_ids[-1])
        current.add(key)
        values = {"uncertainty": item.uncertainty, "reason": item.reason,
                  "data": {"event_ids": event_ids}}
        if key not in existing:
            inserts.append({"kind": item.kind, "a_id": key[1], "b_id": key[2], **values})
        elif existing[key][1] == "open":
            updates.append({"b_rid": existing[key][0], **values})
    if updates:
        conn.execute(review_items.update().where(review_items.c.id == sa.bindparam("b_rid")),
                     updates)
    stale = [rid for key, (rid, state) in existing.items()
             if state == "open" and key not in current]
    if stale:
        conn.execute(review_items.update().where(review_items.c.id.in_(stale))
                     .values(state="resolved", resolved_at=sa.func.now()))
    if not inserts:
        return []
    new_ids = conn.execute(
        review_items.insert().returning(review_items.c.id, sort_by_parameter_order=True), inserts
    ).scalars().all()
    return [("review.flagged", {"review_id": rid, "kind": row["kind"],
                                "event_ids": row["data"]["event_ids"],
                                "uncertainty": row["uncertainty"], "reason": row["reason"]})
            for rid, row in zip(new_ids, inserts, strict=True)]


def _summary(cid: int, canonical: Canonical) -> dict[str, Any]:
    return {
        "canonical_id": cid,
        "title": canonical.title,
        "city": canonical.location_city,
        "first_date": canonical.first_date.isoformat() if canonical.first_date else None,
        "source_count": canonical.source_count,
        "version": canonical.version,
        "members": list(canonical.member_ids),
    }

