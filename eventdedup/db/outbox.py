"""The feed outbox: what the feed said, written in the transaction it describes.

Sequence numbers are gap-free and commit-ordered.  Writers take one
transaction-scoped advisory lock just before appending and hold it to commit,
so a reader that has seen ``seq = n`` can never later find a row ``< n`` that
committed after it looked (which a plain ``bigserial`` would allow when two
transactions commit out of order).  The lock is taken as late as possible, so
it only serialises the few milliseconds of each transaction's tail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.tables import outbox

OUTBOX_LOCK = 0x6576_6F62  # "evob"
NOTIFY_CHANNEL = "eventdedup_outbox"


@attrs.frozen
class FeedMessage:
    seq: int
    type: str
    at: dt.datetime
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "at": self.at.isoformat(), "data": self.data}


def append(conn: Connection, messages: Iterable[tuple[str, Mapping[str, Any]]]) -> list[int]:
    """Append messages inside the caller's transaction and wake listeners at commit."""
    items = list(messages)
    if not items:
        return []
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_LOCK)))
    last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()
    rows = [
        {"seq": last + i, "type": kind, "data": dict(data)}
        for i, (kind, data) in enumerate(items, start=1)
    ]
    conn.execute(outbox.insert(), rows)
    # NOTIFY is delivered at commit and only carries a wake-up; rows are read from the table.
    conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, str(rows[-1]["seq"]))))
    return [r["seq"] for r in rows]


def fetch_after(conn: Connection, after: int, limit: int = 500) -> list[FeedMessage]:
    result = conn.execute(
        sa.select(outbox.c.seq, outbox.c.type, outbox.c.at, outbox.c.data)
        .where(outbox.c.seq > after)
        .order_by(outbox.c.seq)
        .limit(limit)
    )
    return [FeedMessage(r.seq, r.type, r.at, r.data) for r in result]


def last_seq(conn: Connection) -> int:
    return conn.execute(sa.select(sa.func.coalesce(sa.func.max(outbox.c.seq), 0))).scalar_one()
