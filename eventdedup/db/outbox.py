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
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.events import text_array
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


# One statement for all the messages, whatever their number: ``seq`` continues from the last
# row (read after the lock is held: a statement's snapshot is taken when it starts), in the
# order given; the data travel as one JSON array, and the listeners are woken at commit
# (NOTIFY only carries a wake-up; rows are read from the table).
_APPEND = sa.text(
    "WITH added AS ("
    " INSERT INTO outbox (seq, type, data)"
    " SELECT last.seq + v.n, v.type, v.data"
    " FROM (SELECT coalesce(max(seq), 0) AS seq FROM outbox) AS last,"
    "  ROWS FROM (unnest(CAST(:types AS text[])), jsonb_array_elements(CAST(:data AS jsonb)))"
    "  WITH ORDINALITY AS v(type, data, n)"
    " RETURNING seq) "
    "SELECT max(seq) AS last, pg_notify(:channel, CAST(max(seq) AS text)) FROM added"
)


def _dumps(data: Mapping[str, Any]) -> bytes:
    # non-string keys as json.dumps writes them ({1: …} -> {"1": …})
    return orjson.dumps(
        data if isinstance(data, dict) else dict(data), option=orjson.OPT_NON_STR_KEYS
    )


def append(conn: Connection, messages: Iterable[tuple[str, Mapping[str, Any]]]) -> list[int]:
    """Append messages inside the caller's transaction and wake listeners at commit."""
    items = list(messages)
    if not items:
        return []
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(OUTBOX_LOCK)))
    data = b"[" + b",".join([_dumps(d) for _, d in items]) + b"]"
    last = conn.execute(
        _APPEND,
        {
            "types": text_array(kind for kind, _ in items),
            "data": data.decode(),
            "channel": NOTIFY_CHANNEL,
        },
    ).scalar_one()
    return list(range(last - len(items) + 1, last + 1))


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


_PROCESSED_SINCE = sa.text(
    "SELECT EXISTS (SELECT 1 FROM outbox WHERE seq > :since "
    "AND seq NOT BETWEEN :first AND :last AND type = 'file.processed')"
)


def processed_since(conn: Connection, since: int, but: tuple[int, int] | None = None) -> bool:
    """Whether a ``file.processed`` message after seq ``since`` has committed, leaving out
    the seqs ``but`` (first, last): whether a file stored events since (its events and
    its message commit together)."""
    first, last = but if but is not None else (0, -1)
    return bool(
        conn.execute(_PROCESSED_SINCE, {"since": since, "first": first, "last": last}).scalar_one()
    )
