"""The resolver tier's storage side: claim open review items, apply answers as an operator.

A resolver is an automated operator.  Its answer goes through exactly the
path of an operator's review decision (:func:`eventdedup.admin.review.run_review`
with the same operations: constraint, re-clustering, audit row, feed), under
the operator name ``resolver:<name>``, so ``review.undo`` and the console need
nothing new.

Claiming is its own short transaction (``FOR UPDATE SKIP LOCKED``, then
``resolver_at`` is set), never a file's: replicas share the queue, each item is
looked at once, and the slow part (asking a model) holds no lock.  An item a
resolver leaves (unsure, failed, or contradicting an operator) stays for humans.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from eventdedup.admin import review as ops
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.rpc import RpcError, conflict
from eventdedup.db.tables import (
    audit_log,
    match_constraints,
    resolver_cache,
    resolver_models,
    resolver_usage,
    review_items,
    source_events,
)
from eventdedup.matching.learned import Example, LearnedModel
from eventdedup.matching.review import CALIBRATION

OPERATOR_PREFIX = "resolver:"


@attrs.frozen
class Question:
    """A claimed open review item."""

    review_id: int
    kind: str  # "merge" | "split"
    a_id: str
    b_id: str
    probability: float
    signals: Mapping[str, Any]
    events: tuple[Mapping[str, Any], ...] = ()  # both listings (id, title, dates, place, text)


@attrs.frozen
class Answer:
    resolver: str
    same: bool
    confidence: float
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.resolver,
            "same": self.same,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
        }


def claim(engine: Engine) -> Question | None:
    """The open item with the best expected benefit no resolver has looked at yet."""
    with engine.begin() as conn:
        row = conn.execute(
            sa.select(review_items)
            .where(review_items.c.state == "open")
            .where(review_items.c.resolver_at.is_(None))
            .where(review_items.c.kind.in_(("merge", "split")))
            .order_by(review_items.c.benefit.desc().nulls_last(), review_items.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        conn.execute(
            review_items.update()
            .where(review_items.c.id == row.id)
            .values(resolver_at=sa.func.now())
        )
        data = row.data or {}
        return Question(
            row.id,
            row.kind,
            row.a_id,
            row.b_id,
            float(data.get("probability", 0.5)),
            data.get("signals") or {},
            tuple(_listings(conn, [row.a_id, row.b_id])),
        )


def _listings(conn: Connection, ids: list[str]) -> list[dict[str, Any]]:
    """What a resolver is shown of each listing (the stored, unnormalised fields)."""
    e = source_events.c
    rows = conn.execute(
        sa.select(
            e.id,
            e.source_code,
            e.title,
            e.short_description,
            e.description,
            e.location_name,
            e.location_city,
            e.location_street,
            e.record,
        ).where(e.id.in_(ids))
    ).all()
    found = {r.id: r for r in rows}
    out = []
    for i in ids:
        r = found.get(i)
        if r is None:
            continue
        out.append(
            {
                "id": i,
                "source": r.source_code,
                "title": r.title,
                "dates": (r.record or {}).get("dates"),
                "venue": r.location_name,
                "street": r.location_street,
                "city": r.location_city,
                "text": (r.short_description or r.description or "")[:600],
            }
        )
    return out


def _operator_said(conn: Connection, question: Question, kind: str) -> bool:
    """Whether a human set a ``kind`` constraint between the question's two sides."""
    if question.kind == "split":
        left = [x for x in _cluster(conn, question.a_id) if x != question.a_id]
        right = [question.a_id]
    else:
        left, right = _cluster(conn, question.a_id), _cluster(conn, question.b_id)
    c = match_constraints.c
    found = conn.execute(
        sa.select(c.a_id)
        .where(c.kind == kind)
        .where(~c.operator.startswith(OPERATOR_PREFIX))
        .where(
            sa.or_(
                sa.and_(c.a_id.in_(left), c.b_id.in_(right)),
                sa.and_(c.a_id.in_(right), c.b_id.in_(left)),
            )
        )
        .limit(1)
    ).first()
    return found is not None


def _cluster(conn: Connection, event_id: str) -> list[str]:
    cid = conn.execute(
        sa.select(source_events.c.canonical_id).where(source_events.c.id == event_id)
    ).scalar_one_or_none()
    if cid is None:
        return [event_id]
    return list(
        conn.execute(
            sa.select(source_events.c.id).where(source_events.c.canonical_id == cid)
        ).scalars()
    )


def apply_answer(
    engine: Engine,
    source: ConfigSource,
    question: Question,
    answer: Answer,
    replica: str,
    wait: float | None = None,
) -> dict[str, Any] | None:
    """Apply a confident answer as operator ``resolver:<name>``; None if it was not applied.

    Not applied: the item was settled meanwhile, an operator's constraint says
    otherwise, or the clustering rules refuse it (all left for humans).  Raises
    :class:`~eventdedup.admin.review.LockBusy` while a file holds the matching
    lock: files go first.  With ``wait`` (seconds) it queues for the lock that
    long first (files asking for it meanwhile queue behind it).
    """
    operator = OPERATOR_PREFIX + answer.resolver
    rid = question.review_id
    if question.kind == "merge":
        action = "review.merge" if answer.same else "review.keep_separate"
    else:
        action = "review.dismiss" if answer.same else "review.split"

    def body(tx: ops.ReviewTx) -> dict[str, Any]:
        row = tx.review(rid)
        if row.state != "open":
            raise conflict(f"review item {rid} is already {row.state}")
        contradicting = "cannot_link" if answer.same else "must_link"
        if _operator_said(tx.conn, question, contradicting):
            raise conflict(f"an operator's {contradicting} says otherwise")
        if action == "review.merge":
            cids = tx.canonical_of([question.a_id, question.b_id])
            a, b = cids[question.a_id], cids[question.b_id]
            if a is None or b is None:
                raise conflict("an event of the item has no canonical")
            result = ops.merge(tx, a, b, rid)
        elif action == "review.keep_separate":
            result = ops.keep_separate(tx, question.a_id, question.b_id, rid)
        elif action == "review.split":
            cid = tx.canonical_of([question.a_id])[question.a_id]
            if cid is None:
                raise conflict("the event has no canonical")
            result = ops.split(tx, cid, question.a_id, None, rid)
        else:
            result = ops.dismiss(tx, rid, f"kept together: {answer.reason}")
        # the answer's confidence and reason travel with the item and the audit row
        tx.conn.execute(
            review_items.update()
            .where(review_items.c.id == rid)
            .values(
                data=review_items.c.data.op("||")(
                    sa.func.jsonb_build_object(
                        "resolver", sa.cast(sa.literal(_json(answer.to_json())), JSONB)
                    )
                )
            )
        )
        tx.messages.append(
            (
                "review.resolver",
                {"review_id": rid, "action": action, "operator": operator, **answer.to_json()},
            )
        )
        return {**result, "resolver": answer.to_json()}

    try:
        return ops.run_review(
            engine,
            source,
            action=action,
            operator=operator,
            replica=replica,
            params={"review_id": rid, "answer": answer.to_json()},
            body=body,
            wait=False if wait is None else wait,
        )
    except RpcError:
        return None


# -- the learned resolver's data --------------------------------------------------------------

_ANSWERS = {"merged": True, "kept_separate": False, "split": False}


def _operator_answers() -> sa.Select[Any]:
    data = review_items.c.data
    return (
        sa.select(data)
        .where(review_items.c.state == "resolved")
        .where(data["resolution"].astext.in_(list(_ANSWERS)))
        .where(data.has_key("signals"))
        .where(~sa.func.coalesce(data["resolved_by"].astext, "").startswith(OPERATOR_PREFIX))
    )


def operator_answer_count(conn: Connection) -> int:
    """How many examples :func:`operator_examples` would return (cheap: polled)."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(_operator_answers().subquery())
        ).scalar_one()
    )


def operator_examples(conn: Connection) -> list[Example]:
    """Every review answer a human gave and did not undo (resolvers' own answers excluded).

    Merged = same event; kept separate or split = different.  Dismissals carry no
    answer; an undone answer reopened its item, so it is not here either.
    """
    rows = conn.execute(
        _operator_answers().order_by(review_items.c.resolved_at, review_items.c.id)
    ).scalars()
    return [Example(d["signals"], _ANSWERS[d["resolution"]]) for d in rows]


def load_model(conn: Connection, name: str = "learned") -> LearnedModel:
    row = conn.execute(sa.select(resolver_models).where(resolver_models.c.name == name)).first()
    if row is None or len(row.weights) != len(CALIBRATION):
        # none yet, or trained on another calibration's features: start from the shipped one
        # (retrained on every operator answer at once, as ``decisions`` is 0)
        return LearnedModel()
    return LearnedModel(tuple(row.weights), row.decisions, row.agreement, row.baseline)


def save_model(conn: Connection, model: LearnedModel, name: str = "learned") -> None:
    values = {
        "weights": list(model.weights),
        "decisions": model.decisions,
        "agreement": model.agreement,
        "baseline": model.baseline,
    }
    stmt = pg_insert(resolver_models).values(name=name, **values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[resolver_models.c.name], set_={**values, "trained_at": sa.func.now()}
        )
    )


# -- budget and figures -----------------------------------------------------------------------


def spend(conn: Connection, resolver: str, budget: int) -> bool:
    """Count one request against today's budget; False (nothing counted) when it is spent."""
    today = dt.datetime.now(dt.UTC).date()
    stmt = pg_insert(resolver_usage).values(day=today, resolver=resolver, requests=1)
    row = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[resolver_usage.c.day, resolver_usage.c.resolver],
            set_={"requests": resolver_usage.c.requests + 1},
            where=resolver_usage.c.requests < budget,
        ).returning(resolver_usage.c.requests)
    ).first()
    return row is not None and row.requests <= budget


def used_today(conn: Connection, resolver: str) -> int:
    today = dt.datetime.now(dt.UTC).date()
    return int(
        conn.execute(
            sa.select(resolver_usage.c.requests)
            .where(resolver_usage.c.day == today)
            .where(resolver_usage.c.resolver == resolver)
        ).scalar_one_or_none()
        or 0
    )


def resolver_figures(conn: Connection) -> dict[str, Any]:
    """Open items and what resolvers settled today (dashboard, metrics)."""
    open_items = conn.execute(
        sa.select(sa.func.count()).select_from(review_items).where(review_items.c.state == "open")
    ).scalar_one()
    listings = conn.execute(sa.select(sa.func.count()).select_from(source_events)).scalar_one()
    settled = conn.execute(
        sa.select(audit_log.c.operator, sa.func.count())
        .where(audit_log.c.operator.startswith(OPERATOR_PREFIX))
        .where(audit_log.c.undone_by.is_(None))
        .where(audit_log.c.action != "review.undo")
        .where(audit_log.c.at >= sa.func.date_trunc("day", sa.func.now()))
        .group_by(audit_log.c.operator)
    ).all()
    overrides = conn.execute(
        sa.select(sa.func.count())
        .select_from(audit_log)
        .where(audit_log.c.operator.startswith(OPERATOR_PREFIX))
        .where(audit_log.c.undone_by.is_not(None))
    ).scalar_one()
    model = load_model(conn)
    return {
        "open_items": int(open_items),
        "listings": int(listings),
        "open_per_1000": round(1000 * open_items / listings, 1) if listings else 0.0,
        "resolver_settled_today": {op.removeprefix(OPERATOR_PREFIX): int(n) for op, n in settled},
        "resolver_overridden": int(overrides),
        "learned": {
            "decisions": model.decisions,
            "agreement": model.agreement,
            "baseline": model.baseline,
        },
    }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# -- the llm resolver's cache ------------------------------------------------------------------


def cached_answer(conn: Connection, key: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(resolver_cache.c.answer).where(resolver_cache.c.content_hash == key)
    ).scalar_one_or_none()
    return dict(row) if row is not None else None


def cache_answer(conn: Connection, key: str, model: str, answer: Mapping[str, Any]) -> None:
    conn.execute(
        pg_insert(resolver_cache)
        .values(content_hash=key, model=model, answer=dict(answer))
        .on_conflict_do_nothing()
    )
