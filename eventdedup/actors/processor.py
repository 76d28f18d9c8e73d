"""The processor actor: take settled files off the queue and process them one by one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import psycopg
import trio
from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from eventdedup.db.engine import Database
from eventdedup.pipeline import FileOutcome, FileProcessor

log = logging.getLogger(__name__)

#: A lost or refused database connection: wait it out. psycopg's own classes are listed
#: too because bulk loads (COPY) use the driver connection directly, unwrapped by SQLAlchemy.
DB_DOWN = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)


async def processor(
    queue: trio.MemoryReceiveChannel[Path],
    db: Database,
    files: FileProcessor,
    *,
    on_done: Callable[[FileOutcome], None] | None = None,
    max_wait: float = 10.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: process each queued file in a worker thread.

    The worker thread is not abandoned on shutdown, so a file in flight either
    commits or rolls back before the actor stops; a file the actor never got to
    stays in the inbox and is offered again by the watcher.  A database outage
    is waited out with backoff (the file stays in the inbox meanwhile) instead
    of crashing the actor: outages are reported by ``/health``, not escalated.
    """
    task_status.started()
    async for path in queue:
        retrying = AsyncRetrying(
            wait=wait_exponential_jitter(multiplier=0.5, max=max_wait, jitter=0.5),
            retry=retry_if_exception_type(DB_DOWN),
            before_sleep=before_sleep_log(log, logging.WARNING),
            sleep=trio.sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                outcome = await db.run(files.process, path)
        if on_done is not None:
            on_done(outcome)
