"""The embedded server's settings (``EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS``): in force from
the first start, changed at the next one, and never by restarting a server that another
process uses (that one keeps the old value until it stops)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

from eventdedup.db.embedded import SETTINGS_FILE, EmbeddedPostgres


def shared_buffers(server: EmbeddedPostgres) -> str:
    with psycopg.connect(host=server.socket_dir(), user="postgres", dbname="postgres") as c:
        row = c.execute("SHOW shared_buffers").fetchone()
    assert row is not None
    return str(row[0])


def test_in_force_from_the_first_start_and_changed_at_the_next(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    server = EmbeddedPostgres(pgdata, shared_buffers="48MB")
    server.start()  # a new data dir: initdb, then a restart with the setting
    try:
        assert shared_buffers(server) == "48MB"
    finally:
        server.stop()
    server = EmbeddedPostgres(pgdata, shared_buffers="32MB")
    server.start()
    try:
        assert shared_buffers(server) == "32MB"
    finally:
        server.stop()
    server = EmbeddedPostgres(pgdata)  # none: PostgreSQL's default again
    server.start()
    try:
        assert shared_buffers(server) == "128MB"
    finally:
        server.stop()
    conf = (pgdata / "postgresql.conf").read_text()
    assert conf.count(f"include_if_exists = '{SETTINGS_FILE}'") == 1


# A second process using the same data dir (a second daemon on it), until told to stop.
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from eventdedup.db.embedded import EmbeddedPostgres
    server = EmbeddedPostgres(Path(sys.argv[1]), shared_buffers="48MB")
    server.start()
    print("ready", server.socket_dir(), flush=True)
    sys.stdin.read()
    server.stop()
    """
)


def test_a_server_in_use_is_not_restarted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pgdata = tmp_path / "pgdata"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(pgdata)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None
        ready, host = other.stdout.readline().split()
        assert ready == "ready"
        with psycopg.connect(host=host, user="postgres", dbname="postgres") as theirs:
            server = EmbeddedPostgres(pgdata, shared_buffers="32MB")
            with caplog.at_level(logging.WARNING, logger="eventdedup.db.embedded"):
                server.start()
            try:
                # the change waits for the next start; the other's connections live on
                assert shared_buffers(server) == "48MB"
                assert "take effect at its next start" in caplog.text
                assert theirs.execute("SELECT 1").fetchone() == (1,)
            finally:
                server.stop()  # not the last user: the server runs on for the other process
            assert theirs.execute("SELECT 2").fetchone() == (2,)
        assert other.stdin is not None
        other.stdin.close()
        assert other.wait(timeout=60) == 0
    finally:
        if other.poll() is None:
            other.kill()
