"""Read-only queries behind ``status``, ``events.*``, ``review.list`` and ``audit.list``.

Everything is filtered, sorted and paged by PostgreSQL (never in Python), so
the cost depends on the page, not on the size of the store: the title search
uses the trigram index of migration 0002 (``ILIKE`` and ``%`` both use it).
Functions are synchronous and take a connection; callers run them in a
worker thread.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.admin.rpc import MAX_ID, Params
from eventdedup.db.dedup import score_from_row
from eventdedup.db.tables import (
    audit_log,
    canonical_events,
    canonical_redirects,
    event_dates,
    file_ingestions,
    match_constraints,
    match_decisions,
    review_items,
    source_events,
)

SORTS = {
    "date": canonical_events.c.first_date,
    "title": canonical_events.c.title,
    "city": canonical_events.c.location_city,
    "source_count": canonical_events.c.source_count,
    "confidence": canonical_events.c.match_confidence,
    "updated": canonical_events.c.updated_at,
}
MAX_PAGE = 100_000
REVIEW_STATES = ("open", "resolved", "dismissed")
#: Who closed an item: an operator, a resolver (``resolver:<name>``) or a file / re-clustering.
DECIDED_BY = ("operator", "resolver", "file")


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@attrs.frozen
class SearchQuery:
    q: str | None = None
    city: str | None = None
    category: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sort: str = "date"
    order: str = "asc"
    page: int = 1
    size: int = 25

    @classmethod
    def parse(cls, params: Params) -> SearchQuery:
        """Validate ``events.search`` / ``GET /api/events`` parameters."""
        q = params.string("q", max_length=200)
        sort = params.choice("sort", [*SORTS, "relevance"], default=None)
        query = cls(
            q=q.strip() or None if q is not None else None,
            city=params.string("city", max_length=200),
            category=params.string("category", max_length=200),
            date_from=params.date("date_from"),
            date_to=params.date("date_to"),
            sort=sort or ("relevance" if q and q.strip() else "date"),
            order=params.choice("order", ["asc", "desc"], default="asc") or "asc",
            page=params.integer("page", default=1, minimum=1, maximum=MAX_PAGE) or 1,
            size=params.integer("size", default=25, minimum=1, maximum=200) or 25,
        )
        params.done()
        return query


def _search_filters(query: SearchQuery) -> list[Any]:
    c = canonical_events.c
    where: list[Any] = []
    if query.q:
        # ILIKE finds substrings, the trigram operator finds near-misses (typos,
        # dialect spellings); both are answered from the GIN trigram index.
        where.append(
            sa.or_(c.title.ilike(_like_pattern(query.q), escape="\\"), c.title.op("%")(query.q))
        )
    if query.city:
        where.append(
            c.location_city.ilike(
                query.city.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),
                escape="\\",
            )
        )
    if query.category:
        where.append(c.categories.contains([query.category]))
    if query.date_from:  # overlapping the range: a festival that started earlier counts
        where.append(sa.func.coalesce(c.last_date, c.first_date) >= query.date_from)
    if query.date_to:
        where.append(c.first_date <= query.date_to)
    return where


def search_events(conn: Connection, query: SearchQuery) -> dict[str, Any]:
    c = canonical_events.c
    where = _search_filters(query)
    total = conn.execute(
        sa.select(sa.func.count()).select_from(canonical_events).where(*where)
    ).scalar_one()
    if query.sort == "relevance" and query.q:
        # most similar first whatever ``order`` says: "least relevant first" is never wanted
        order = [sa.func.similarity(c.title, query.q).desc(), c.id.asc()]
    else:
        column = SORTS.get(query.sort, c.first_date)
        direction = (
            column.desc().nulls_last() if query.order == "desc" else column.asc().nulls_last()
        )
        order = [direction, c.id.asc()]
    rows = conn.execute(
        sa.select(
            c.id,
            c.title,
            c.location_city,
            c.first_date,
            c.last_date,
            c.categories,
            c.source_count,
            c.match_confidence,
            c.needs_review,
            c.version,
        )
        .where(*where)
        .order_by(*order)
        .limit(query.size)
        .offset((query.page - 1) * query.size)
    )
    items = [
        {
            "id": r.id,
            "title": r.title,
            "city": r.location_city,
            "first_date": _iso(r.first_date),
            "last_date": _iso(r.last_date),
            "categories": list(r.categories or []),
            "source_count": r.source_count,
            "match_confidence": r.match_confidence,
            "needs_review": r.needs_review,
            "version": r.version,
        }
        for r in rows
    ]
    return {"items": items, "total": total, "page": query.page, "size": query.size}


def _iso(value: dt.date | dt.datetime | dt.time | None) -> str | None:
    return value.isoformat() if value is not None else None


def resolve_canonical(conn: Connection, cid: int) -> tuple[int, int | None] | None:
    """``(current id, id it was redirected from)`` or None if it never existed.

    Redirects are kept flat (``old -> newest survivor``), so one lookup does.
    """
    if not 0 < cid <= MAX_ID:
        return None
    exists = conn.execute(
        sa.select(canonical_events.c.id).where(canonical_events.c.id == cid)
    ).scalar_one_or_none()
    if exists is not None:
        return cid, None
    target = conn.execute(
        sa.select(canonical_redirects.c.new_id).where(canonical_redirects.c.old_id == cid)
    ).scalar_one_or_none()
    if target is None:
        return None
    still = conn.execute(
        sa.select(canonical_events.c.id).where(canonical_events.c.id == target)
    ).scalar_one_or_none()
    return (target, cid) if still is not None else None


SOURCE_FIELDS = (
    "id",
    "source_code",
    "source_type",
    "title",
    "short_description",
    "description",
    "highlights",
    "location_name",
    "location_city",
    "location_printed_city",
    "location_district",
    "location_street",
    "location_street_no",
    "location_zipcode",
    "geo_latitude",
    "geo_longitude",
    "geo_confidence",
    "geo_country",
    "categories",
    "is_family_event",
    "is_child_focused",
    "admission_free",
    "registration_required",
    "registration_contact",
    "confidence_score",
    "canonical_id",
    "created_at",
)


def dates_of(conn: Connection, ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(
            event_dates.c.event_id,
            event_dates.c.date,
            event_dates.c.start_time,
            event_dates.c.end_time,
            event_dates.c.end_date,
        )
        .where(event_dates.c.event_id.in_(list(ids)))
        .order_by(event_dates.c.event_id, event_dates.c.position)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.event_id, []).append(
            {
                "date": _iso(r.date),
                "start_time": _iso(r.start_time),
                "end_time": _iso(r.end_time),
                "end_date": _iso(r.end_date),
            }
        )
    return out


def get_event(conn: Connection, cid: int) -> dict[str, Any] | None:
    """A canonical with its sources, their pairwise decisions and manual constraints."""
    resolved = resolve_canonical(conn, cid)
    if resolved is None:
        return None
    current, redirected_from = resolved
    row = conn.execute(sa.select(canonical_events).where(canonical_events.c.id == current)).one()
    canonical = dict(row.data)
    canonical.update(
        {
            "id": row.id,
            "version": row.version,
            "needs_review": row.needs_review,
            "match_confidence": row.match_confidence,
            "source_count": row.source_count,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
        }
    )
    columns = [getattr(source_events.c, f) for f in SOURCE_FIELDS]
    sources = [
        dict(r._mapping)
        for r in conn.execute(
            sa.select(*columns, file_ingestions.c.filename.label("file"))
            .join(file_ingestions, file_ingestions.c.id == source_events.c.file_id)
            .where(source_events.c.canonical_id == current)
            .order_by(source_events.c.id)
        )
    ]
    ids = [s["id"] for s in sources]
    dates = dates_of(conn, ids)
    for s in sources:
        s["dates"] = dates.get(s["id"], [])
        s["created_at"] = _iso(s["created_at"])
    decisions: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    reviews: list[dict[str, Any]] = []
    if ids:
        param = sa.literal(ids, sa.ARRAY(sa.Text))
        for r in conn.execute(
            sa.select(
                match_decisions.c.a_id,
                match_decisions.c.b_id,
                match_decisions.c.decision,
                match_decisions.c.combined,
                match_decisions.c.score,
            )
            .where(match_decisions.c.a_id == sa.any_(param))
            .where(match_decisions.c.b_id == sa.any_(param))
            .order_by(match_decisions.c.a_id, match_decisions.c.b_id)
        ):
            score = score_from_row(r).to_json()
            decisions.append(
                {
                    k: score.get(k)
                    for k in (
                        "a_id",
                        "b_id",
                        "date",
                        "geo",
                        "title",
                        "description",
                        "combined",
                        "decision",
                        "reason",
                        "tier",
                    )
                }
            )
        touching = sa.or_(
            match_constraints.c.a_id == sa.any_(param), match_constraints.c.b_id == sa.any_(param)
        )
        constraints = [
            {
                "a_id": r.a_id,
                "b_id": r.b_id,
                "kind": r.kind,
                "operator": r.operator,
                "created_at": _iso(r.created_at),
            }
            for r in conn.execute(
                sa.select(match_constraints)
                .where(touching)
                .order_by(match_constraints.c.a_id, match_constraints.c.b_id)
            )
        ]
        # review questions about these listings someone answered: who, and a resolver's why
        answered = conn.execute(
            sa.select(review_items)
            .where(
                sa.or_(review_items.c.a_id == sa.any_(param), review_items.c.b_id == sa.any_(param))
            )
            .where(review_items.c.data.has_key("resolution"))
            .order_by(review_items.c.resolved_at, review_items.c.id)
        ).all()
        reviews = [
            {
                "review_id": r.id,
                "kind": r.kind,
                "event_ids": _review_event_ids(r),
                "resolution": r.data.get("resolution"),
                "decided_by": r.data.get("resolved_by"),
                "resolver": r.data.get("resolver"),
                "resolved_at": _iso(r.resolved_at),
            }
            for r in answered
        ]
    result: dict[str, Any] = {
        "canonical": canonical,
        "sources": sources,
        "decisions": decisions,
        "constraints": constraints,
        "reviews": reviews,
    }
    if redirected_from is not None:
        result["redirected_from"] = redirected_from
    return result


def _decided_by(who: str) -> sa.ColumnElement[bool]:
    data = review_items.c.data
    by = sa.func.coalesce(
        data["resolved_by"].astext, data["dismissed_by"].astext, data["settled_by"].astext
    )
    automatic = sa.or_(by.startswith("file"), by == "re-clustering", by.startswith("migration"))
    if who == "resolver":
        return by.startswith("resolver:")
    if who == "file":
        return automatic
    return sa.and_(by.is_not(None), ~by.startswith("resolver:"), ~automatic)


def list_reviews(
    conn: Connection, state: str, page: int, size: int, decided_by: str | None = None
) -> dict[str, Any]:
    where = review_items.c.state == state
    if decided_by is not None:
        where = sa.and_(where, _decided_by(decided_by))
    total = conn.execute(
        sa.select(sa.func.count()).select_from(review_items).where(where)
    ).scalar_one()
    rows = conn.execute(
        sa.select(review_items)
        .where(where)
        .order_by(
            review_items.c.benefit.desc().nulls_last(),
            review_items.c.uncertainty.desc(),
            review_items.c.id,
        )
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    event_ids = sorted({e for r in rows for e in _review_event_ids(r)})
    events: dict[str, dict[str, Any]] = {}
    if event_ids:
        dates = dates_of(conn, event_ids)
        for e in conn.execute(
            sa.select(
                source_events.c.id,
                source_events.c.title,
                source_events.c.location_city,
                source_events.c.source_code,
                source_events.c.canonical_id,
            ).where(source_events.c.id.in_(event_ids))
        ):
            events[e.id] = {
                "id": e.id,
                "title": e.title,
                "city": e.location_city,
                "dates": dates.get(e.id, []),
                "source_code": e.source_code,
                "canonical_id": e.canonical_id,
            }
    items = []
    for r in rows:
        ids = _review_event_ids(r)
        items.append(
            {
                "id": r.id,
                "kind": r.kind,
                "state": r.state,
                "event_ids": ids,
                "uncertainty": r.uncertainty,
                "reason": r.reason,
                "created_at": _iso(r.created_at),
                "resolved_at": _iso(r.resolved_at),
                "resolution": (r.data or {}).get("resolution"),
                **_review_details(r),
                "events": [events[i] for i in ids if i in events],
            }
        )
    return {"items": items, "total": total, "page": page, "size": size}


def _review_details(row: Any) -> dict[str, Any]:
    """The question's probability, signals, what an answer moves and who settled it."""
    data = row.data or {}
    question = data.get("question")
    left, right = len(data.get("left", [])), len(data.get("right", []))
    if question == "merge":
        moves = f"merge would join {left} and {right} listings"
    elif question == "split":
        moves = f"split would take {right} of {left} listings out"
    else:
        moves = None
    return {
        "probability": data.get("probability"),
        "benefit": row.benefit,
        "signals": data.get("signals"),
        "moves": moves,
        "decided_by": data.get("resolved_by") or data.get("dismissed_by") or data.get("settled_by"),
        "resolver": data.get("resolver"),
    }


def _review_event_ids(row: Any) -> list[str]:
    ids = (row.data or {}).get("event_ids")
    if isinstance(ids, list) and ids:
        return [str(i) for i in ids]
    return [i for i in (row.a_id, row.b_id) if i]


def list_audit(
    conn: Connection, operator: str | None, action: str | None, page: int, size: int
) -> dict[str, Any]:
    where = []
    if operator is not None:
        where.append(audit_log.c.operator == operator)
    if action is not None:
        where.append(audit_log.c.action == action)
    total = conn.execute(
        sa.select(sa.func.count()).select_from(audit_log).where(*where)
    ).scalar_one()
    rows = conn.execute(
        sa.select(audit_log)
        .where(*where)
        .order_by(audit_log.c.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    items = [
        {
            "id": r.id,
            "at": _iso(r.at),
            "operator": r.operator,
            "action": r.action,
            "replica": r.replica,
            "params": r.params,
            "before": r.before,
            "after": r.after,
            "undone_by": r.undone_by,
        }
        for r in rows
    ]
    return {"items": items, "total": total, "page": page, "size": size}


def counters(conn: Connection) -> dict[str, int]:
    """The store's headline numbers in one round trip."""
    row = conn.execute(
        sa.select(
            sa.select(sa.func.count())
            .select_from(file_ingestions)
            .where(file_ingestions.c.state == "completed")
            .scalar_subquery()
            .label("processed"),
            sa.select(sa.func.count())
            .select_from(file_ingestions)
            .where(file_ingestions.c.state == "failed")
            .scalar_subquery()
            .label("failed"),
            sa.select(sa.func.count())
            .select_from(file_ingestions)
            .where(
                file_ingestions.c.state == "completed",
                # since midnight UTC, whatever the session's time zone
                file_ingestions.c.completed_at
                >= sa.func.date_trunc("day", sa.func.now(), sa.literal("UTC")),
            )
            .scalar_subquery()
            .label("today"),
            sa.select(sa.func.count()).select_from(source_events).scalar_subquery().label("events"),
            sa.select(sa.func.count())
            .select_from(canonical_events)
            .scalar_subquery()
            .label("canonicals"),
            sa.select(sa.func.count())
            .select_from(review_items)
            .where(review_items.c.state == "open")
            .scalar_subquery()
            .label("review_open"),
            sa.select(sa.func.count())
            .select_from(audit_log)
            .where(audit_log.c.operator.startswith("resolver:"))
            .where(audit_log.c.action != "review.undo")
            .where(audit_log.c.undone_by.is_(None))
            .where(audit_log.c.at >= sa.func.date_trunc("day", sa.func.now()))
            .scalar_subquery()
            .label("resolver_today"),
        )
    ).one()
    return {
        "files_processed": row.processed,
        "files_failed": row.failed,
        "files_today": row.today,
        "events": row.events,
        "canonicals": row.canonicals,
        "review_open": row.review_open,
        # open items per 1,000 listings (the queue's size relative to the intake)
        "review_per_1000": round(1000 * row.review_open / row.events) if row.events else 0,
        "resolver_today": row.resolver_today,
    }


def members_of(conn: Connection, cids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
    """``canonical id -> [(event id, component id)]`` sorted by event id."""
    out: dict[int, list[tuple[str, int]]] = {}
    if not cids:
        return out
    for r in conn.execute(
        sa.select(source_events.c.id, source_events.c.component_id, source_events.c.canonical_id)
        .where(source_events.c.canonical_id.in_(list(cids)))
        .order_by(source_events.c.id)
    ):
        out.setdefault(r.canonical_id, []).append((r.id, r.component_id))
    return out


def canonical_summaries(conn: Connection, event_ids: Sequence[str]) -> dict[str, Any]:
    """``{canonical id: {title, members}}`` of the canonicals holding these events."""
    if not event_ids:
        return {}
    cids = sorted(
        {
            r.canonical_id
            for r in conn.execute(
                sa.select(source_events.c.canonical_id).where(
                    source_events.c.id.in_(list(event_ids))
                )
            )
            if r.canonical_id is not None
        }
    )
    titles: Mapping[int, str] = {
        r.id: r.title
        for r in conn.execute(
            sa.select(canonical_events.c.id, canonical_events.c.title).where(
                canonical_events.c.id.in_(cids)
            )
        )
    }
    members = members_of(conn, cids)
    return {
        str(cid): {"title": titles.get(cid), "members": [m for m, _ in members.get(cid, [])]}
        for cid in cids
    }
