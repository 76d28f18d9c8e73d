"""The migrator actor: ``alembic upgrade head`` before anything else starts.

The database may still be starting (compose, a restarted server), so the
first connection is retried with exponential backoff and jitter.  After the
last attempt the error propagates; the supervisor keeps the later actors from
starting and escalates, and the process exits non-zero with the cause.
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
    async for attempt in retrying:
        with attempt:
            revision = await db.run(upgrade_head, db.engine)
    log.info("database migrated", extra={"event": "migrated", "revision": revision})
    task_status.started()
