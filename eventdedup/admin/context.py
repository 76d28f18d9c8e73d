"""Everything the admin surface needs from the running daemon, passed in explicitly.

Built once by ``eventdedup.daemon.build_daemon`` and handed to ``create_app``:
no module-level state, so tests can run several daemons in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa
import trio

from eventdedup.admin.auth import AdminToken
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.deadletters import count_dead_letters
from eventdedup.admin.metrics import Metrics
from eventdedup.admin.queries import counters
from eventdedup.db.engine import Database
from eventdedup.feedhub import FeedHub
from eventdedup.ingest.files import backlog_files
from eventdedup.pipeline import FileOutcome, default_replica_name
from supervisor import ChildState, Supervisor

log = logging.getLogger(__name__)


def count_inbox(inbox: Path) -> int:
    """The files the watcher would take from ``inbox`` (its own listing, counted)."""
    try:
        return len(backlog_files(inbox))
    except OSError:
        return 0


def _counters(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return counters(conn)


@attrs.define(eq=False)
class AdminContext:
    """The daemon's parts the admin commands, REST routes and metrics use."""

    db: Database
    hub: FeedHub
    token: AdminToken
    config: ConfigSource
    inbox: Path
    dead_letters: Path
    metrics: Metrics = attrs.Factory(Metrics)
    supervisor: Supervisor | None = None
    replica: Callable[[], str] = default_replica_name
    #: Seconds a client without an ``Authorization`` header has to send ``{"auth": …}``.
    auth_deadline: float = 5.0
    #: Per-connection JSON-RPC rate limit (token bucket).
    rpc_rate: float = 100.0
    rpc_burst: float = 200.0
    _dead_letter_count: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self.metrics.live = self.live_metrics

    def file_done(self, outcome: FileOutcome) -> None:
        """Processor callback: wake the feed and count the file (called in the trio thread)."""
        self.hub.notify()
        self.metrics.file_done(outcome.outcome, outcome.duration_ms)

    def actors(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.supervisor.status()] if self.supervisor else []

    def live_metrics(self) -> dict[str, Any]:
        """In-process numbers for a scrape; call in the trio thread (the supervisor's rule)."""
        statuses = self.supervisor.status() if self.supervisor else []
        return {
            "actor_restarts": {s.name: s.restarts for s in statuses},
            "actor_up": {s.name: s.state is ChildState.RUNNING for s in statuses},
            "feed_clients": self.hub.client_count,
            "feed_head": self.hub.head,
            "dead_letters": self._dead_letter_count,
        }

    async def count_dead_letters(self) -> int:
        """Scan the dead-letter folder in a worker thread (a slow share never blocks the loop)."""
        count = await trio.to_thread.run_sync(count_dead_letters, self.dead_letters)
        self._dead_letter_count = count
        return count

    async def count_inbox(self) -> int:
        """Files waiting in the inbox (the names the watcher would take), in a worker thread."""
        return await trio.to_thread.run_sync(count_inbox, self.inbox)

    async def store_counters(self) -> dict[str, int]:
        return await self.db.run(_counters, self.db.engine)

    async def refresh_metrics(self, limit: float = 5.0) -> None:
        """Read the store's numbers for a scrape; a database outage shows as ``database_up 0``."""
        try:
            with trio.fail_after(limit):
                await self.count_dead_letters()
                counts = await self.store_counters()
        except (trio.TooSlowError, sa.exc.DBAPIError, OSError) as exc:
            log.debug("metrics: cannot read the store: %s", exc)
            self.metrics.set_store(None)
        else:
            self.metrics.set_store(counts)
