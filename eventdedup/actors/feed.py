"""The feed actor: outbox fan-out, NOTIFY listener, status announcements, database probe.

All of them share the fate of "can we talk to the database right now", so they
live in one actor.  None of them crashes on a database outage: an outage is a
state the daemon reports (``/health`` 503) and recovers from, not a bug for
the supervisor to restart its way out of.

The listener is what makes the feed work across replicas: every outbox append
ends with ``pg_notify`` (delivered at commit), the listener wakes the hub, and
the hub reads the rows from the table — the notification carries no data, so
a lost or coalesced notification can never lose a message.  While the
listening connection is down the hub polls every second instead.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

import attrs
import psycopg
import sqlalchemy as sa
import trio
from sqlalchemy.exc import DBAPIError

from eventdedup.db import outbox
from eventdedup.db.engine import Database, error_line
from eventdedup.feedhub import Encoded, FeedHub

log = logging.getLogger(__name__)

DB_ERRORS = (DBAPIError, OSError)


@attrs.define
class DatabaseHealth:
    """What the last probe learnt; read by ``/health``."""

    ok: bool = False
    error: str | None = "not checked yet"
    checked_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
        }


def _ping(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


def _fetch_after(db: Database, after: int, limit: int) -> list[Encoded]:
    """Rows and their JSON, both in the worker thread: the event loop only joins texts."""
    with db.engine.connect() as conn:
        return [Encoded.of(m) for m in outbox.fetch_after(conn, after, limit)]


def _last_seq(db: Database) -> int:
    with db.engine.connect() as conn:
        return outbox.last_seq(conn)


def _append(db: Database, items: list[tuple[str, dict[str, Any]]]) -> None:
    with db.engine.begin() as conn:
        outbox.append(conn, items)


def make_hub(db: Database, *, queue_size: int = 1000) -> FeedHub:
    async def fetch_after(after: int, limit: int) -> list[Encoded]:
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
                log.error(
                    "database unreachable",
                    extra={"event": "database.down", "error": str(exc).strip()},
                )
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


#: application_name of the listening connection (visible in pg_stat_activity).
LISTENER_NAME = "eventdedup-listen"


def listener_conninfo(db: Database) -> str:
    """A libpq URL for psycopg itself, from the engine's SQLAlchemy URL."""
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _listen_blocking(
    conninfo: str, on_ready: Any, wake: Any, *, idle_check: float, wait: float
) -> None:
    """Worker thread: LISTEN on a dedicated autocommit connection and wake the hub.

    ``notifies(timeout=wait, stop_after=1)`` returns as soon as something
    arrives (psycopg keeps notifications that arrive between calls), so the
    hub is woken within milliseconds; between calls the thread checks whether
    the actor was cancelled.  After ``idle_check`` seconds of silence a
    ``SELECT 1`` proves the connection is still alive — a half-open TCP
    connection would otherwise listen to nothing forever.
    """
    with psycopg.connect(
        conninfo,
        autocommit=True,
        connect_timeout=5,
        application_name=LISTENER_NAME,
        keepalives=1,
        keepalives_idle=30,
        keepalives_interval=10,
        keepalives_count=3,
    ) as conn:
        conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
        trio.from_thread.run_sync(on_ready)
        quiet = 0.0
        while True:
            got = False
            for _ in conn.notifies(timeout=wait, stop_after=1):
                got = True
            trio.from_thread.check_cancelled()
            if got:
                quiet = 0.0
                trio.from_thread.run_sync(wake)
                continue
            quiet += wait
            if quiet >= idle_check:
                conn.execute("SELECT 1")
                quiet = 0.0


async def listen_for_commits(
    db: Database,
    hub: FeedHub,
    *,
    backoff_max: float = 10.0,
    idle_check: float = 15.0,
    wait: float = 0.5,
) -> None:
    """Keep a LISTEN connection up, reconnecting with backoff; never raises on outages."""
    conninfo = listener_conninfo(db)
    delay = 0.5

    def ready() -> None:
        nonlocal delay
        delay = 0.5
        hub.listening = True
        hub.notify()  # catch up on whatever committed while nobody listened
        log.info("listening for outbox commits", extra={"event": "feed.listening"})

    while True:
        try:
            await trio.to_thread.run_sync(
                functools.partial(
                    _listen_blocking, conninfo, ready, hub.notify, idle_check=idle_check, wait=wait
                )
            )
        except (psycopg.Error, OSError) as exc:
            if hub.listening:
                log.warning(
                    "lost the LISTEN connection; polling until it is back",
                    extra={
                        "event": "feed.listen_lost",
                        "error": error_line(exc),
                    },
                )
        finally:
            hub.listening = False
        await trio.sleep(delay)
        delay = min(backoff_max, delay * 2)


async def pump_forever(hub: FeedHub) -> None:
    while True:
        try:
            await hub.run(initial_head=hub.head)
        except DB_ERRORS as exc:
            log.warning(
                "feed cannot read the outbox; retrying",
                extra={"event": "feed.retry", "error": str(exc).strip()},
            )
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
        nursery.start_soon(listen_for_commits, db, hub)
        await hub.wait_started()
        task_status.started()
