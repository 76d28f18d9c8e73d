"""The migrator actor: ``alembic upgrade head`` before anything else starts.

The database may still be starting (compose, a restarted server), so the
first connection is retried with exponential backoff and jitter.  After the
last of ``EVENT_DEDUP_MIGRATE_ATTEMPTS`` attempts the daemon gives up at once:
:class:`MigrationFailed` is a ``SystemExit``, which the supervisor does not
restart (it stops the other actors and re-raises it), so the process exits 1
with a message that names the database error.  An ordinary exception would
make the supervisor restart this transient actor until its restart intensity
escalates, multiplying the configured attempts by six.
"""

from __future__ import annotations

import logging

import trio
from sqlalchemy.exc import OperationalError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from eventdedup.db.engine import Database
from eventdedup.db.migrate import upgrade_head

log = logging.getLogger(__name__)


class MigrationFailed(SystemExit):
    """The database could not be reached within the configured attempts; stop the daemon."""


async def migrator(
    db: Database,
    *,
    attempts: int = 8,
    initial_wait: float = 0.5,
    max_wait: float = 10.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor (transient): migrate, report ready, and finish."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential_jitter(multiplier=initial_wait, max=max_wait, jitter=initial_wait),
        retry=retry_if_exception_type(OperationalError),
        before_sleep=before_sleep_log(log, logging.WARNING),
        sleep=trio.sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                revision = await db.run(upgrade_head, db.engine)
    except OperationalError as exc:
        error = " ".join(str(exc.orig or exc).split())
        message = (
            f"eventdedup: giving up on the database after {attempts} attempt"
            f"{'s' if attempts != 1 else ''} to migrate it "
            f"(EVENT_DEDUP_MIGRATE_ATTEMPTS): {error}"
        )
        log.critical("%s", message, extra={"event": "migrate.failed", "attempts": attempts})
        raise MigrationFailed(message) from exc
    log.info("database migrated", extra={"event": "migrated", "revision": revision})
    task_status.started()
