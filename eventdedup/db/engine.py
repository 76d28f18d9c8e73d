"""The database handle actors share: one engine, one thread limiter.

Database work is synchronous (SQLAlchemy 2 + psycopg 3).  Actors never call it
from the event loop directly; they go through :meth:`Database.run`, which uses
``trio.to_thread.run_sync`` with a capacity limiter so a burst of work can never
use more connections than the pool holds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
import trio
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError

#: A lost or refused database connection: actors wait it out. psycopg's own classes
#: are listed too because bulk loads (COPY) use the driver connection directly,
#: unwrapped by SQLAlchemy.
DB_DOWN = (OperationalError, InterfaceError, psycopg.OperationalError, psycopg.InterfaceError)

#: The database refused what a transaction wrote (a constraint, a value it cannot take):
#: the same content is refused again, unless another transaction's commit caused it.
DB_REFUSED = (IntegrityError, DataError, psycopg.IntegrityError, psycopg.DataError)


def error_line(exc: BaseException) -> str:
    """The first line of a database error, the driver's own for SQLAlchemy's wrapper
    (without the statement and parameters it appends); the class name if it says nothing."""
    orig = (exc.orig or exc) if isinstance(exc, sa.exc.DBAPIError) else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


T = TypeVar("T")


def create_engine(url: str, *, pool_size: int = 5, application_name: str = "eventdedup") -> Engine:
    """An engine tuned for short transactions from a handful of worker threads.

    ``pool_pre_ping`` makes a connection that died with a restarted server
    fail over to a fresh one instead of surfacing a stale-socket error.
    """
    return sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=2,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"application_name": application_name, "connect_timeout": 5},
    )


class Database:
    """An engine plus the limiter that bounds how many threads use it."""

    def __init__(self, engine: Engine, *, threads: int = 4) -> None:
        self.engine = engine
        self.limiter = trio.CapacityLimiter(threads)

    @classmethod
    def from_url(cls, url: str, *, threads: int = 4) -> Database:
        return cls(create_engine(url, pool_size=threads), threads=threads)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking database code in a worker thread.

        The thread is not abandoned on cancellation: a transaction half way
        through a commit must finish or roll back before the actor goes away.
        """
        call = functools.partial(fn, *args, **kwargs) if kwargs else functools.partial(fn, *args)
        return await trio.to_thread.run_sync(call, limiter=self.limiter)

    def dispose(self) -> None:
        self.engine.dispose()
