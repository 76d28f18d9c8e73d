"""Shared fixtures: a real PostgreSQL for the whole run, a fresh database per test.

By default the suite starts the same embedded PostgreSQL the daemon uses;
``EVENT_DEDUP_TEST_DATABASE_URL`` points it at another server instead (any
database on it; the tests create and drop their own databases next to it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from eventdedup import testing
from eventdedup.config import Settings, normalize_database_url
from eventdedup.db.embedded import EmbeddedPostgres


@pytest.fixture(scope="session")
def corpus_files() -> list[Path]:
    """The sample corpus's event files (``examples/corpus``), sorted by name."""
    return testing.corpus_files()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    configured = os.environ.get("EVENT_DEDUP_TEST_DATABASE_URL")
    if configured:
        yield normalize_database_url(configured)
        return
    # Not under pytest's numbered temp dirs: another pytest run on the same machine
    # prunes those, and would pull the data directory from under the server.
    root = Path(tempfile.mkdtemp(prefix="eventdedup-test-pg-"))
    # as the daemon starts it (its settings, a restart to apply them)
    server = EmbeddedPostgres(
        root / "pgdata", database="postgres", shared_buffers=Settings().embedded_shared_buffers
    )
    url = server.start()
    try:
        yield url
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _admin_engine(admin_url: str) -> sa.Engine:
    return sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


@contextlib.contextmanager
def scratch_database(pg_admin_url: str, locale: str | None = None) -> Iterator[str]:
    """URL of a new, empty database on the test server, dropped on exit.

    ``locale``: the database's collation and character classes (``LOCALE``), instead of
    the server's default.
    """
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(pg_admin_url)
    options = f" TEMPLATE template0 LOCALE '{locale}'" if locale else ""
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"{options}'))
    url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    with scratch_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    from eventdedup.db.engine import create_engine

    eng = create_engine(database_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_engine(engine: sa.Engine) -> sa.Engine:
    from eventdedup.db.migrate import upgrade_head

    upgrade_head(engine)
    return engine
