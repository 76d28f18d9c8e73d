"""The feed actor: outbox fan-out, actor-status announcements and the database probe.

All three share the fate of "can we talk to the database right now", so they
live in one actor.  None of them crashes on a database outage: an outage is a
state the daemon reports (``/health`` 503) and recovers from, not a bug for
the supervisor to restart its way out of.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import attrs
import sqlalchemy as sa
import trio
from sqlalchemy.exc import DBAPIError

from eventdedup.db import outbox
from eventdedup.db.engine import Database
from eventdedup.web.feed import FeedHub

log = logging.getLogger(__name__)

DB_ERRORS = (DBAPIError, OSError)


@attrs.define
class DatabaseHealth:
    """What the last probe learnt; read by ``/health``."""

    ok: bool = False
    error: str | None = "not checked yet"
    checked_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "error": self.error,
                "checked_at": self.checked_at.isoformat() if self.checked_at else None}


def _ping(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _fetch_after(db: Database, after: int, limit: int) -> list[outbox.FeedMessage]:
    with db.engine.connect() as conn:
        return outbox.fetch_after(conn, after, limit)


def _last_seq(db: Database) -> int:
    with db.engine.connect() as conn:
        return outbox.last_seq(conn)


def _append(db: Database, items: list[tuple[str, dict[str, Any]]]) -> None:
    with db.engine.begin() as conn:
        outbox.append(conn, items)


def make_hub(db: Database, *, queue_size: int = 1000) -> FeedHub:
    async def fetch_after(after: int, limit: int) -> list[outbox.FeedMessage]:
        return await db.run(_fetch_after, db, after, limit)

    return FeedHub(fetch_after, queue_size=queue_size)


async def probe_database(db: Database, health: DatabaseHealth, *, interval: float = 2.0) -> None:
    """Check the database every ``interval`` seconds and record the result."""
    while True:
        try:
            with trio.fail_after(max(interval, 5.0)):
                await db.run(_ping, db)
        except (*DB_ERRORS, trio.TooSlowError) as exc:
            if health.ok:
                log.error("database unreachable", extra={"event": "database.down",
                                                         "error": str(exc).strip()})
            health.ok, health.error = False, f"{type(exc).__name__}: {str(exc).strip()}"
        else:
            if not health.ok:
                log.info("database reachable", extra={"event": "database.up"})
            health.ok, health.error = True, None
        health.checked_at = dt.datetime.now(dt.UTC)
        await trio.sleep(interval)


async def announce_statuses(
    db: Database,
    statuses: trio.MemoryReceiveChannel[dict[str, Any]],
    hub: FeedHub,
) -> None:
    """Write supervisor status changes to the outbox as ``actor.status`` messages."""
    async for status in statuses:
        batch = [("actor.status", status)]
        while True:  # drain what queued up meanwhile into one transaction
            try:
                batch.append(("actor.status", statuses.receive_nowait()))
            except trio.WouldBlock:
                break
        while True:
            try:
                await db.run(_append, db, batch)
                hub.notify()
                break
            except DB_ERRORS:
                await trio.sleep(2.0)  # database down: keep them until it is back


async def pump_forever(hub: FeedHub) -> None:
    while True:
        try:
            await hub.run(initial_head=hub.head)
        except DB_ERRORS as exc:
            log.warning("feed cannot read the outbox; retrying",
                        extra={"event": "feed.retry", "error": str(exc).strip()})
            await trio.sleep(2.0)


async def feed(
    db: Database,
    hub: FeedHub,
    health: DatabaseHealth,
    statuses: trio.MemoryReceiveChannel[dict[str, Any]],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: needs the migrated database; starts live from the current outbox head."""
    if not hub.is_started:  # after a restart, carry on from what clients were sent
        hub.head = await db.run(_last_seq, db)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe_database, db, health)
        nursery.start_soon(announce_statuses, db, statuses, hub)
        nursery.start_soon(pump_forever, hub)
        await hub.wait_started()
        task_status.started()
