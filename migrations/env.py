"""Alembic environment: the URL comes from the daemon's own settings.

There is no second "sync" URL: the daemon passes its resolved URL (embedded or
``EVENT_DEDUP_DATABASE_URL``) in ``config.attributes["url"]``; the plain
``alembic`` command falls back to the environment variable.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool, text

from eventdedup.config import load_settings
from eventdedup.db.tables import metadata

# Several replicas may start together; only one may migrate at a time.
MIGRATION_LOCK = 0x65766D67  # "evmg"


def _url() -> str:
    url = context.config.attributes.get("url")
    if url:
        return url
    settings = load_settings()
    if not settings.database_url:
        raise SystemExit("EVENT_DEDUP_DATABASE_URL is not set (the daemon runs migrations itself)")
    return settings.database_url


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
    try:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
