"""The JSON-RPC method table (docs/protocol.md): parameter checks, then the work in a thread.

Each handler validates its params (errors name the parameter), runs the
blocking database work through ``Database.run`` and returns a JSON-ready
result.  Every *mutating* command is one transaction that writes its feed
messages to the outbox and one ``audit_log`` row; the hub is woken right
after the commit so this replica's clients see the effect at once (other
replicas hear about it through NOTIFY).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa
import trio
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine

from eventdedup.admin import review as ops
from eventdedup.admin.config_source import MATCHING_KEY, ConfigSource, changed_paths
from eventdedup.admin.context import AdminContext
from eventdedup.admin.deadletters import list_dead_letters, retry_dead_letter
from eventdedup.admin.queries import (
    DECIDED_BY,
    REVIEW_STATES,
    SearchQuery,
    get_event,
    list_audit,
    list_reviews,
    search_events,
)
from eventdedup.admin.rpc import (
    Caller,
    Dispatcher,
    Handler,
    Params,
    conflict,
    invalid,
    not_found,
)
from eventdedup.db import outbox
from eventdedup.db.dedup import MATCH_LOCK
from eventdedup.db.tables import audit_log, config_settings
from eventdedup.matching import MatchingConfigError
from eventdedup.matching.config import deep_merge
from supervisor import ChildState

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_PAGE = 100_000


def _read(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    with engine.connect() as conn:
        return fn(conn, *args)


def write_audit(
    conn: Connection,
    *,
    operator: str,
    action: str,
    replica: str,
    params: Mapping[str, Any],
    before: Any = None,
    after: Any = None,
) -> int:
    return conn.execute(
        audit_log.insert()
        .values(
            operator=operator,
            action=action,
            replica=replica,
            params=dict(params),
            before=before,
            after=after,
        )
        .returning(audit_log.c.id)
    ).scalar_one()


# -- config ------------------------------------------------------------------------------------


def config_view(conn: Connection, source: ConfigSource) -> dict[str, Any]:
    version, overrides, effective = source.load(conn)
    return {
        "matching": effective.to_json(),
        "source": "database" if overrides else source.origin,
        "base": source.origin,
        "overrides": overrides,
        "version": version,
    }


def set_config(
    engine: Engine, source: ConfigSource, patch: Mapping[str, Any], operator: str, replica: str
) -> dict[str, Any]:
    """Deep-merge ``patch`` into the persisted overrides, validate, store, announce."""
    with engine.begin() as conn:
        # The processor reads the configuration under this lock: a file in flight
        # finishes with the old values, the next one starts with the new ones.
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MATCH_LOCK)))
        row = conn.execute(
            sa.select(config_settings.c.value)
            .where(config_settings.c.key == MATCHING_KEY)
            .with_for_update()
        ).first()
        old = dict(row.value) if row is not None else {}
        new = deep_merge(old, patch)
        try:
            before_cfg, after_cfg = source.build(old), source.build(new)
        except (MatchingConfigError, TypeError, ValueError) as exc:
            raise invalid("matching", f"rejected: {exc}") from None
        changed = changed_paths(before_cfg.to_json(), after_cfg.to_json())
        if not changed:
            return {"matching": after_cfg.to_json(), "changed": [], "version": None}
        version = conn.execute(
            pg_insert(config_settings)
            .values(key=MATCHING_KEY, value=new, updated_by=operator)
            .on_conflict_do_update(
                index_elements=[config_settings.c.key],
                set_={
                    "value": new,
                    "version": config_settings.c.version + 1,
                    "updated_at": sa.func.now(),
                    "updated_by": operator,
                },
            )
            .returning(config_settings.c.version)
        ).scalar_one()
        write_audit(
            conn,
            operator=operator,
            action="config.set",
            replica=replica,
            params={"matching": dict(patch)},
            before={"overrides": old},
            after={"overrides": new, "changed": changed, "version": version},
        )
        outbox.append(
            conn,
            [("config.changed", {"changed": changed, "version": version, "operator": operator})],
        )
    return {"matching": after_cfg.to_json(), "changed": changed, "version": version}


# -- dead letters ------------------------------------------------------------------------------


def retry(
    engine: Engine, ctx: AdminContext, name: str, operator: str, replica: str
) -> dict[str, Any]:
    """Announce, audit and move in one step: a failed move rolls the announcement back."""
    with engine.begin() as conn:
        result = retry_dead_letter(ctx.dead_letters, ctx.inbox, name)
        write_audit(
            conn,
            operator=operator,
            action="deadletters.retry",
            replica=replica,
            params={"file": name},
            after=result,
        )
        outbox.append(conn, [("deadletter.retried", result)])
    return result


def audit_only(engine: Engine, **values: Any) -> int:
    with engine.begin() as conn:
        return write_audit(conn, **values)


# -- the table ---------------------------------------------------------------------------------


def build_dispatcher(ctx: AdminContext) -> Dispatcher:
    """All methods of docs/protocol.md, bound to one daemon's context."""
    db, engine = ctx.db, ctx.db.engine

    async def status(p: Params, _c: Caller) -> Any:
        p.done()
        counts = await ctx.store_counters()
        dead_letters = await ctx.count_dead_letters()
        return {
            "actors": ctx.actors(),
            "counters": {**counts, "dead_letters": dead_letters},
            "queue": {"inbox": await ctx.count_inbox()},
            "feed": {
                "head": ctx.hub.head,
                "clients": ctx.hub.client_count,
                "listening": ctx.hub.listening,
            },
            "replica": ctx.replica(),
        }

    async def events_search(p: Params, _c: Caller) -> Any:
        query = SearchQuery.parse(p)
        return await db.run(_read, engine, search_events, query)

    async def events_get(p: Params, _c: Caller) -> Any:
        cid = p.identifier("id")
        p.done()
        assert cid is not None
        result = await db.run(_read, engine, get_event, cid)
        if result is None:
            raise not_found(f"canonical event {cid}")
        return result

    async def review_list(p: Params, _c: Caller) -> Any:
        state = p.choice("state", REVIEW_STATES, default="open") or "open"
        page = p.integer("page", default=1, minimum=1, maximum=MAX_PAGE) or 1
        size = p.integer("size", default=25, minimum=1, maximum=200) or 25
        decided_by = p.choice("decided_by", DECIDED_BY)
        p.done()
        return await db.run(_read, engine, list_reviews, state, page, size, decided_by)

    async def audit_list(p: Params, _c: Caller) -> Any:
        operator = p.string("operator", max_length=100)
        action = p.string("action", max_length=100)
        page = p.integer("page", default=1, minimum=1, maximum=MAX_PAGE) or 1
        size = p.integer("size", default=25, minimum=1, maximum=200) or 25
        p.done()
        return await db.run(_read, engine, list_audit, operator, action, page, size)

    async def review(
        action: str,
        p: Params,
        body: Callable[[ops.ReviewTx], dict[str, Any]],
        params: dict[str, Any],
    ) -> Any:
        operator = ops.check_operator(p.string("operator", max_length=100))
        p.done()
        result = await db.run(
            ops.run_review,
            engine,
            ctx.config,
            action=action,
            operator=operator,
            replica=ctx.replica(),
            params={**params, "operator": operator},
            body=body,
        )
        ctx.hub.notify()
        return result

    async def review_merge(p: Params, _c: Caller) -> Any:
        source = p.identifier("source_canonical_id")
        target = p.identifier("target_canonical_id")
        review_id = p.identifier("review_id", required=False)
        assert source is not None and target is not None
        return await review(
            "review.merge",
            p,
            lambda tx: ops.merge(tx, source, target, review_id),
            {"source_canonical_id": source, "target_canonical_id": target, "review_id": review_id},
        )

    async def review_split(p: Params, _c: Caller) -> Any:
        cid = p.identifier("canonical_id")
        event = p.string("source_event_id", required=True, max_length=200)
        target = p.identifier("target_canonical_id", required=False)
        review_id = p.identifier("review_id", required=False)
        assert cid is not None and event is not None
        return await review(
            "review.split",
            p,
            lambda tx: ops.split(tx, cid, event, target, review_id),
            {
                "canonical_id": cid,
                "source_event_id": event,
                "target_canonical_id": target,
                "review_id": review_id,
            },
        )

    async def review_keep_separate(p: Params, _c: Caller) -> Any:
        a = p.string("a_id", max_length=200)
        b = p.string("b_id", max_length=200)
        review_id = p.identifier("review_id", required=False)
        if review_id is None and (a is None or b is None):
            raise invalid("a_id", "and b_id are required (or give review_id)")
        if review_id is not None and (a is not None or b is not None):
            raise invalid("review_id", "cannot be combined with a_id/b_id")

        def body(tx: ops.ReviewTx) -> dict[str, Any]:
            x, y = a, b
            if review_id is not None:
                item = tx.review(review_id)
                x, y = item.a_id, item.b_id
                if not x or not y:
                    raise conflict(f"review item {review_id} is not about a pair of events")
            assert x is not None and y is not None
            return ops.keep_separate(tx, x, y, review_id)

        return await review(
            "review.keep_separate", p, body, {"a_id": a, "b_id": b, "review_id": review_id}
        )

    async def review_dismiss(p: Params, _c: Caller) -> Any:
        review_id = p.identifier("review_id")
        reason = p.string("reason", max_length=500)
        assert review_id is not None
        return await review(
            "review.dismiss",
            p,
            lambda tx: ops.dismiss(tx, review_id, reason),
            {"review_id": review_id, "reason": reason},
        )

    async def review_undo(p: Params, _c: Caller) -> Any:
        return await review("review.undo", p, ops.undo, {})

    async def deadletters_list(p: Params, _c: Caller) -> Any:
        p.done()
        return await trio.to_thread.run_sync(list_dead_letters, ctx.dead_letters)

    async def deadletters_retry(p: Params, _c: Caller) -> Any:
        name = p.string("file", required=True, max_length=255)
        operator = ops.check_operator(p.string("operator", max_length=100))
        p.done()
        assert name is not None
        result = await db.run(retry, engine, ctx, name, operator, ctx.replica())
        ctx.hub.notify()
        return result

    async def config_get(p: Params, _c: Caller) -> Any:
        p.done()
        return await db.run(_read, engine, config_view, ctx.config)

    async def config_set(p: Params, _c: Caller) -> Any:
        patch = p.mapping("matching", required=True)
        operator = ops.check_operator(p.string("operator", max_length=100))
        p.done()
        assert patch is not None
        result = await db.run(set_config, engine, ctx.config, patch, operator, ctx.replica())
        ctx.hub.notify()
        return result

    async def actor_restart(p: Params, caller: Caller) -> Any:
        name = p.string("name", required=True, max_length=100)
        operator = ops.check_operator(p.string("operator", max_length=100))
        p.done()
        assert name is not None
        sup = ctx.supervisor
        if sup is None:
            raise conflict("no supervisor")
        before = {s.name: s for s in sup.status()}.get(name)
        if before is None:
            raise not_found(f"actor {name!r}")
        try:
            sup.restart_child(name)
        except KeyError:
            raise not_found(f"actor {name!r}") from None
        except RuntimeError as exc:
            raise conflict(str(exc)) from None
        await db.run(
            audit_only,
            engine,
            operator=operator,
            action="actor.restart",
            replica=ctx.replica(),
            params={"name": name},
            before={"state": before.state.value, "restarts": before.restarts},
        )
        log.info(
            "actor %s restarted by %s",
            name,
            operator,
            extra={
                "event": "actor.restart",
                "actor": name,
                "operator": operator,
                "peer": caller.peer,
            },
        )
        state = before.state
        with trio.move_on_after(5.0):  # report where it got to, without waiting forever
            while True:
                now = {s.name: s for s in sup.status()}[name]
                state = now.state
                if now.restarts > before.restarts and state in (
                    ChildState.RUNNING,
                    ChildState.COMPLETED,
                    ChildState.FAILED,
                ):
                    break
                await trio.sleep(0.05)
        return {"name": name, "state": state.value}

    methods: dict[str, Handler] = {
        "status": status,
        "events.search": events_search,
        "events.get": events_get,
        "review.list": review_list,
        "review.merge": review_merge,
        "review.split": review_split,
        "review.keep_separate": review_keep_separate,
        "review.dismiss": review_dismiss,
        "review.undo": review_undo,
        "audit.list": audit_list,
        "deadletters.list": deadletters_list,
        "deadletters.retry": deadletters_retry,
        "config.get": config_get,
        "config.set": config_set,
        "actor.restart": actor_restart,
    }
    return Dispatcher(methods, on_call=lambda m, o: ctx.metrics.rpc_calls.labels(m, o).inc())
