"""Review operations as *constraints plus re-clustering*.

An operator's decision is stored as a must-link / cannot-link between source
events (``match_constraints``) and the affected match-graph components are
re-clustered with the same code the processor uses.  That is why a decision
survives later files: the constraint is loaded whenever the component is
re-clustered again, whoever does it.  Canonical ids stay stable (the
re-clustering keeps them), merged-away ids redirect to the survivor.

Each operation is ONE transaction that first takes the matching lock (the
processor holds it while matching, so an operation never interleaves with a
file), changes constraints / review items, re-clusters, writes the feed
messages to the outbox and one audit row that records exactly what
``review.undo`` must reverse.  Anything that fails — including contradictory
constraints — rolls the whole transaction back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from eventdedup.admin.config_source import ConfigSource, ConfiguredDeduplicator
from eventdedup.admin.queries import canonical_summaries, members_of, resolve_canonical
from eventdedup.admin.rpc import RpcError, conflict, invalid, not_found
from eventdedup.db import outbox
from eventdedup.db.dedup import MATCH_LOCK, Messages
from eventdedup.db.tables import (
    audit_log,
    canonical_events,
    canonical_redirects,
    match_constraints,
    review_items,
    source_events,
)

REVIEW_ACTIONS = ("review.merge", "review.split", "review.keep_separate", "review.dismiss")


@attrs.define(eq=False)
class ReviewTx:
    """One review operation's transaction: its changes, messages and undo record."""

    conn: Connection
    dedup: ConfiguredDeduplicator
    operator: str
    messages: Messages = attrs.Factory(list)
    constraints: list[dict[str, Any]] = attrs.Factory(list)
    reviews: list[dict[str, Any]] = attrs.Factory(list)
    before: dict[str, Any] = attrs.Factory(dict)
    touched: set[str] = attrs.Factory(set)
    undoes: int | None = None

    # -- reading ------------------------------------------------------------------------------

    def canonical(self, cid: int, name: str) -> int:
        resolved = resolve_canonical(self.conn, cid)
        if resolved is None:
            raise not_found(f"canonical event {cid} ({name})")
        return resolved[0]

    def members(self, cid: int) -> list[tuple[str, int]]:
        members = members_of(self.conn, [cid]).get(cid, [])
        if any(comp is None for _, comp in members):
            raise conflict(f"canonical event {cid} has members that were never matched")
        return members

    def canonical_of(self, event_ids: Iterable[str]) -> dict[str, int | None]:
        ids = sorted(set(event_ids))
        return {
            r.id: r.canonical_id
            for r in self.conn.execute(
                sa.select(source_events.c.id, source_events.c.canonical_id).where(
                    source_events.c.id.in_(ids)
                )
            )
        }

    def components_of(self, event_ids: Iterable[str]) -> set[int]:
        ids = sorted(set(event_ids))
        if not ids:
            return set()
        return {
            r.component_id
            for r in self.conn.execute(
                sa.select(source_events.c.component_id).where(source_events.c.id.in_(ids))
            )
            if r.component_id is not None
        }

    def event_exists(self, event_id: str, name: str) -> None:
        found = self.conn.execute(
            sa.select(source_events.c.id).where(source_events.c.id == event_id)
        ).scalar_one_or_none()
        if found is None:
            raise not_found(f"source event {event_id!r} ({name})")

    def review(self, review_id: int) -> Any:
        row = self.conn.execute(
            sa.select(review_items).where(review_items.c.id == review_id).with_for_update()
        ).first()
        if row is None:
            raise not_found(f"review item {review_id}")
        return row

    def snapshot_before(self, event_ids: Iterable[str]) -> None:
        ids = set(event_ids)
        self.touched |= ids
        self.before = canonical_summaries(self.conn, sorted(ids))

    # -- changing -----------------------------------------------------------------------------

    def constraint(self, x: str, y: str, kind: str | None) -> None:
        """Set (or with ``kind=None`` remove) the constraint of a pair; record the change.

        A newer operator decision about the *same pair* replaces the older one
        (merge, then split the same event off again); contradictions through
        *other* pairs are left to the clustering, which rejects them.
        """
        a, b = (x, y) if x < y else (y, x)
        prior = self.conn.execute(
            sa.select(match_constraints.c.kind)
            .where(match_constraints.c.a_id == a)
            .where(match_constraints.c.b_id == b)
            .with_for_update()
        ).scalar_one_or_none()
        if prior == kind:
            return
        if kind is None:
            self.conn.execute(
                match_constraints.delete()
                .where(match_constraints.c.a_id == a)
                .where(match_constraints.c.b_id == b)
            )
        elif prior is None:
            self.conn.execute(
                match_constraints.insert().values(a_id=a, b_id=b, kind=kind, operator=self.operator)
            )
        else:
            self.conn.execute(
                match_constraints.update()
                .where(match_constraints.c.a_id == a)
                .where(match_constraints.c.b_id == b)
                .values(kind=kind, operator=self.operator, created_at=sa.func.now())
            )
        self.constraints.append({"a": a, "b": b, "before": prior, "after": kind})
        self.touched |= {a, b}

    def merge_components(self, components: Iterable[int]) -> int:
        """Put several components under the smallest id (a must-link connects them)."""
        comps = sorted(set(components))
        root, others = comps[0], comps[1:]
        if others:
            self.conn.execute(
                source_events.update()
                .where(source_events.c.component_id.in_(others))
                .values(component_id=root)
            )
        return root

    def recluster(self, components: Iterable[int]) -> None:
        comps = sorted(set(components))
        if not comps:
            return
        try:
            self.messages.extend(self.dedup.recluster(self.conn, comps, settled_by=self.operator))
        except ValueError as exc:
            if "contradictory" not in str(exc):
                raise
            raise conflict(str(exc)) from None

    def set_review_state(self, row: Any, state: str, extra: Mapping[str, Any]) -> None:
        data = {**(row.data or {}), **extra}
        self.conn.execute(
            review_items.update()
            .where(review_items.c.id == row.id)
            .values(state=state, data=data, resolved_at=sa.func.now() if state != "open" else None)
        )
        self.reviews.append(
            {"id": row.id, "before": row.state, "after": state, "data_before": row.data}
        )

    def resolve_review(self, review_id: int, resolution: str) -> None:
        """Close a review item the operation answered (no-op if already closed)."""
        row = self.review(review_id)
        if row.state != "open":
            return
        self.set_review_state(
            row, "resolved", {"resolution": resolution, "resolved_by": self.operator}
        )
        self.messages.append(
            (
                "review.resolved",
                {
                    "review_id": row.id,
                    "state": "resolved",
                    "action": resolution,
                    "operator": self.operator,
                },
            )
        )

    def resolve_pair_reviews(self, a: str, b: str, resolution: str) -> None:
        x, y = (a, b) if a < b else (b, a)
        ids = (
            self.conn.execute(
                sa.select(review_items.c.id)
                .where(review_items.c.state == "open")
                .where(review_items.c.a_id == x)
                .where(review_items.c.b_id == y)
            )
            .scalars()
            .all()
        )
        for rid in ids:
            self.resolve_review(rid, resolution)


class LockBusy(Exception):
    """The matching lock is held (a file is being matched); try again later."""


#: SQLSTATE lock_not_available: ``lock_timeout`` ran out
_LOCK_TIMEOUT = "55P03"


def _lock_within(conn: Connection, seconds: float) -> None:
    """The matching lock exclusive, waiting at most ``seconds`` (:class:`LockBusy` after)."""
    previous = conn.execute(sa.select(sa.func.current_setting("lock_timeout"))).scalar_one()
    set_timeout = sa.select(sa.func.set_config("lock_timeout", sa.bindparam("t"), True))
    conn.execute(set_timeout, {"t": f"{max(1, round(seconds * 1000))}ms"})
    try:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MATCH_LOCK)))
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) == _LOCK_TIMEOUT:
            raise LockBusy from exc
        raise
    conn.execute(set_timeout, {"t": previous})  # the body's own waits as before


def run_review(
    engine: Engine,
    source: ConfigSource,
    *,
    action: str,
    operator: str,
    replica: str,
    params: Mapping[str, Any],
    body: Callable[[ReviewTx], dict[str, Any]],
    wait: bool | float = True,
) -> dict[str, Any]:
    """Run ``body`` in one transaction under the matching lock; audit and announce it.

    ``wait=False`` (the resolver) raises :class:`LockBusy` instead of waiting
    when a file (or another operation) holds the lock, so it never queues in
    front of the next file.  ``wait`` in seconds (the resolver, once it has
    been kept out long enough) queues for the lock at most that long, then
    raises :class:`LockBusy`; while it is queued, files asking for the lock
    queue behind it.
    """
    with engine.begin() as conn:
        if wait is True:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MATCH_LOCK)))
        elif wait is False:
            if not conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(MATCH_LOCK))).scalar():
                raise LockBusy
        else:
            _lock_within(conn, wait)
        dedup = ConfiguredDeduplicator(source, source.current(conn))
        tx = ReviewTx(conn, dedup, operator)
        result = body(tx)
        after = canonical_summaries(conn, sorted(tx.touched))
        audit_id = conn.execute(
            audit_log.insert()
            .values(
                operator=operator,
                action=action,
                replica=replica,
                params=dict(params),
                before=tx.before,
                after={"canonicals": after, "result": result},
                undo={"constraints": tx.constraints, "review_items": tx.reviews},
            )
            .returning(audit_log.c.id)
        ).scalar_one()
        if tx.undoes is not None:
            conn.execute(
                audit_log.update().where(audit_log.c.id == tx.undoes).values(undone_by=audit_id)
            )
        outbox.append(conn, tx.messages)
    return result


def _open_twin(conn: Connection, item: Any) -> bool:
    """Whether another item asks the same question and is open."""
    return (
        conn.execute(
            sa.select(review_items.c.id)
            .where(review_items.c.state == "open")
            .where(review_items.c.kind == item.kind)
            .where(review_items.c.a_id == item.a_id)
            .where(review_items.c.b_id == item.b_id)
            .where(review_items.c.id != item.id)
        ).first()
        is not None
    )


# -- the operations ----------------------------------------------------------------------------


def merge(tx: ReviewTx, source_id: int, target_id: int, review_id: int | None) -> dict[str, Any]:
    """Must-link the two canonicals' first members, join their components, re-cluster."""
    src = tx.canonical(source_id, "source_canonical_id")
    tgt = tx.canonical(target_id, "target_canonical_id")
    if src == tgt:
        raise conflict("source and target are the same canonical event")
    if review_id is not None:
        tx.review(review_id)
    s_members, t_members = tx.members(src), tx.members(tgt)
    s_ids, t_ids = [m for m, _ in s_members], [m for m, _ in t_members]
    tx.snapshot_before(s_ids + t_ids)
    tx.constraint(s_ids[0], t_ids[0], "must_link")
    # answered before re-clustering, which would otherwise close it as settled
    if review_id is not None:
        tx.resolve_review(review_id, "merged")
    root = tx.merge_components(c for _, c in s_members + t_members)
    tx.recluster([root])
    now = set(tx.canonical_of(s_ids + t_ids).values())
    if len(now) != 1:
        raise conflict(
            "the clustering rules keep these events apart "
            f"({_why_apart(tx.conn, s_ids, t_ids)}); nothing was changed"
        )
    survivor = int(next(iter(now)))  # type: ignore[arg-type]  # re-clustered: never None
    merged = tgt if survivor == src else src
    _ensure_redirect(tx, merged, survivor)
    return {"surviving_canonical_id": survivor, "merged_canonical_id": merged}


def _why_apart(conn: Connection, left: Sequence[str], right: Sequence[str]) -> str:
    row = conn.execute(
        sa.select(match_constraints.c.a_id, match_constraints.c.b_id)
        .where(match_constraints.c.kind == "cannot_link")
        .where(
            sa.or_(
                sa.and_(match_constraints.c.a_id.in_(left), match_constraints.c.b_id.in_(right)),
                sa.and_(match_constraints.c.a_id.in_(right), match_constraints.c.b_id.in_(left)),
            )
        )
    ).first()
    if row is not None:
        return f"cannot-link between {row.a_id} and {row.b_id}"
    return "size limit, date spread or a strong disagreement between members"


def _ensure_redirect(tx: ReviewTx, lost: int, survivor: int) -> None:
    """The merged-away id must keep resolving (``events.get`` of old links)."""
    exists = tx.conn.execute(
        sa.select(canonical_redirects.c.new_id).where(canonical_redirects.c.old_id == lost)
    ).scalar_one_or_none()
    if exists == survivor:
        return
    tx.conn.execute(
        canonical_redirects.update()
        .where(canonical_redirects.c.new_id == lost)
        .values(new_id=survivor)
    )
    if exists is None:
        tx.conn.execute(canonical_redirects.insert().values(old_id=lost, new_id=survivor))
    else:
        tx.conn.execute(
            canonical_redirects.update()
            .where(canonical_redirects.c.old_id == lost)
            .values(new_id=survivor)
        )
    tx.conn.execute(canonical_events.delete().where(canonical_events.c.id == lost))
    tx.messages.append(("canonical.merged", {"canonical_id": survivor, "merged": lost}))


def split(
    tx: ReviewTx, canonical_id: int, event_id: str, target_id: int | None, review_id: int | None
) -> dict[str, Any]:
    """Cannot-link the event to every other member (must-link it to the target), re-cluster."""
    cid = tx.canonical(canonical_id, "canonical_id")
    members = tx.members(cid)
    ids = [m for m, _ in members]
    if event_id not in ids:
        raise not_found(f"source event {event_id!r} in canonical event {cid}")
    if review_id is not None:
        tx.review(review_id)
    others = [m for m in ids if m != event_id]
    comps = {c for _, c in members}
    t_ids: list[str] = []
    if target_id is not None:
        tgt = tx.canonical(target_id, "target_canonical_id")
        if tgt == cid:
            raise conflict("the target is the canonical event the source is split from")
        t_members = tx.members(tgt)
        t_ids = [m for m, _ in t_members]
        comps |= {c for _, c in t_members}
    elif not others:
        raise conflict(f"source event {event_id!r} is the only member of canonical event {cid}")
    tx.snapshot_before(ids + t_ids)
    for other in others:
        tx.constraint(event_id, other, "cannot_link")
    if t_ids:
        tx.constraint(event_id, t_ids[0], "must_link")
        comps = {tx.merge_components(comps)}
    if review_id is not None:
        tx.resolve_review(review_id, "split")
    tx.recluster(comps)
    now = tx.canonical_of([event_id, *others, *t_ids])
    new_id = now[event_id]
    remaining = [now[o] for o in others]
    if new_id in remaining:
        raise conflict(
            "the clustering rules keep the event with the other members; nothing was changed"
        )
    if t_ids and any(now[t] != new_id for t in t_ids):
        raise conflict(
            "the clustering rules keep the event apart from the target "
            f"({_why_apart(tx.conn, [event_id], t_ids)}); nothing was changed"
        )
    keeps = cid if cid in remaining else (remaining[0] if remaining else None)
    tx.messages.append(
        (
            "canonical.split",
            {"canonical_id": keeps, "source_event_id": event_id, "new_canonical_id": new_id},
        )
    )
    return {"canonical_id": keeps, "new_canonical_id": new_id}


def keep_separate(tx: ReviewTx, a: str, b: str, review_id: int | None) -> dict[str, Any]:
    """Cannot-link two source events and re-cluster both their components."""
    if a == b:
        raise invalid("b_id", "must differ from a_id")
    tx.event_exists(a, "a_id")
    tx.event_exists(b, "b_id")
    canon = tx.canonical_of([a, b])
    related = [
        m
        for cid in {canon[a], canon[b]}
        if cid is not None
        for m, _ in members_of(tx.conn, [cid]).get(cid, [])
    ]
    tx.snapshot_before([a, b, *related])
    tx.constraint(a, b, "cannot_link")
    if review_id is not None:
        tx.resolve_review(review_id, "kept_separate")
    tx.resolve_pair_reviews(a, b, "kept_separate")
    tx.recluster(tx.components_of([a, b]))
    now = tx.canonical_of([a, b])
    if now[a] == now[b]:  # only possible through must-links, which the clustering rejects
        raise conflict(f"{a} and {b} are must-linked through other events")
    return {"a_canonical_id": now[a], "b_canonical_id": now[b]}


def dismiss(tx: ReviewTx, review_id: int, reason: str | None) -> dict[str, Any]:
    row = tx.review(review_id)
    if row.state != "open":
        raise conflict(f"review item {review_id} is already {row.state}")
    extra: dict[str, Any] = {"dismissed_by": tx.operator}
    if reason:
        extra["dismiss_reason"] = reason
    tx.set_review_state(row, "dismissed", extra)
    tx.messages.append(
        (
            "review.resolved",
            {
                "review_id": row.id,
                "state": "dismissed",
                "action": "dismissed",
                "reason": reason,
                "operator": tx.operator,
            },
        )
    )
    return {"review_id": row.id, "state": "dismissed"}


def undo(tx: ReviewTx) -> dict[str, Any]:
    """Reverse the operator's last not-yet-undone review operation, then re-cluster.

    Refuses (conflict) when a constraint that operation set was changed since
    by another operation: undoing it would silently revert someone else too.
    """
    row = tx.conn.execute(
        sa.select(audit_log)
        .where(audit_log.c.operator == tx.operator)
        .where(audit_log.c.action.in_(REVIEW_ACTIONS))
        .where(audit_log.c.undone_by.is_(None))
        .order_by(audit_log.c.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if row is None:
        raise not_found(f"a review operation of operator {tx.operator!r} to undo")
    record = row.undo or {}
    changes = list(record.get("constraints") or [])
    pairs = [(c["a"], c["b"]) for c in changes]
    tx.snapshot_before([e for p in pairs for e in p])
    for change in reversed(changes):
        current = tx.conn.execute(
            sa.select(match_constraints.c.kind)
            .where(match_constraints.c.a_id == change["a"])
            .where(match_constraints.c.b_id == change["b"])
        ).scalar_one_or_none()
        if current != change["after"]:
            raise conflict(
                f"the constraint between {change['a']} and {change['b']} was "
                f"changed since (now {current or 'none'}); undo the later "
                "operation first"
            )
        tx.constraint(change["a"], change["b"], change["before"])
    for item in reversed(record.get("review_items") or []):
        current = tx.conn.execute(
            sa.select(review_items).where(review_items.c.id == item["id"]).with_for_update()
        ).first()
        if current is None or current.state != item["after"]:
            continue  # re-clustering closed or replaced it meanwhile: nothing to restore
        if item["before"] == "open" and _open_twin(tx.conn, current):
            continue  # the question is open again as another item (one open item per question)
        tx.conn.execute(
            review_items.update()
            .where(review_items.c.id == item["id"])
            .values(
                state=item["before"],
                data=item["data_before"],
                resolved_at=None if item["before"] == "open" else current.resolved_at,
            )
        )
        tx.reviews.append(
            {
                "id": item["id"],
                "before": item["after"],
                "after": item["before"],
                "data_before": current.data,
            }
        )
        if item["before"] == "open":
            data = item["data_before"] or {}
            tx.messages.append(
                (
                    "review.flagged",
                    {
                        "review_id": current.id,
                        "kind": current.kind,
                        "event_ids": data.get("event_ids") or [current.a_id, current.b_id],
                        "uncertainty": current.uncertainty,
                        "reason": current.reason,
                    },
                )
            )
    tx.recluster(tx.components_of(e for p in pairs for e in p))
    tx.undoes = row.id
    return {"undone": row.id, "action": row.action}


def check_operator(value: str | None) -> str:
    operator = (value or "admin").strip()
    if not operator:
        raise RpcError(-32602, "invalid params: operator must not be empty")
    return operator
