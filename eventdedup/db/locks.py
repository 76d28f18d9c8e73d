"""Which advisory locks matching takes, so replicas match files of different places at once.

Two files must not match at the same time when their new events could be a
candidate pair (neither would see the other's uncommitted events), or when
both change the same match-graph component.  Everything else may overlap.
So a file takes, all transaction-scoped:

1. ``MATCH_LOCK`` **shared**.  Operator paths (review operations, undo,
   resolver answers, ``config.set``) take it **exclusive**: they wait for the
   files in flight and exclude all files while they run.
2. one lock per **region** of its new events, blocking, in sorted order,
   before it looks for candidates.  Regions come from the blocking keys
   (:func:`regions`): two events that share a key always share a region, so
   two files whose events could meet always share a lock.  A key's region is
   its place part, coarsened: the town of a town key, an ~11 km square for
   the geo-cell keys; title-word keys carry no place, so their region is the
   day and the word.  All are per calendar day, like the keys.
3. one lock per **component** its candidates belong to, and per component
   linked to those by an ambiguous decision (their merge questions are
   shared).  These are only known after the candidate lookup, so they are
   *tried* without waiting.  When one is busy the file rolls back to its
   savepoint (which drops the locks taken in it), then waits for the
   complete set in sorted order and looks again.  A transaction therefore
   only ever waits while holding nothing but smaller keys: no deadlock
   between files.  Component ids are re-read after locking until no new one
   appears, so what the file goes on with is what its locks protect.

A deadlock or serialization failure while taking locks is retried from the
savepoint; one later in the transaction propagates, and the processor retries
the file from the start (``DB_DOWN``), so a file is never lost.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from eventdedup.db.events import text_array

MATCH_LOCK = 0x6576_6D61  # "evma": one bigint key
#: classid of the two-int4 advisory keys (never collide with the one-bigint keys)
REGION_CLASS = 0x6576_7267  # "evrg"
COMPONENT_CLASS = 0x6576_636F  # "evco"

#: geo regions: this many fine cells of each shifted grid per side, and for grid 0
#: (whose keys print the cell's corner in degrees) squares of this size
_GRID_CELLS = 5
_LAT_DEG, _LON_DEG = 0.1, 0.15

#: SQLSTATEs worth retrying: deadlock detected, serialization failure
_RETRY = frozenset({"40P01", "40001"})

LockKey = tuple[int, int]
Pairs = list[tuple[str, str]]


def share_matching(conn: Connection) -> None:
    """``MATCH_LOCK`` shared (re-entrant): no operator path runs until commit."""
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(MATCH_LOCK)))


@attrs.frozen
class FileLocks:
    """What :func:`lock_file` took, and the candidate pairs it found under those locks."""

    pairs: Pairs
    regions: int
    components: int
    restarts: int


def lock_file(
    conn: Connection,
    entries: Mapping[str, Mapping[str, int]],
    find: Callable[[], Pairs],
    timings: dict[str, float] | None = None,
) -> FileLocks:
    """Lock what a file's matching touches; return ``find()`` run under those locks.

    ``entries`` are the new events' blocking-index rows (``{event: {prefix: slots}}``),
    ``find`` the lookup of ``(new id, stored id)`` candidate pairs.  ``timings`` gets
    ``match_lock`` (waiting for and taking locks) and ``candidates`` (``find``).
    """
    started = time.perf_counter()
    spent_finding = 0.0
    share_matching(conn)
    want = [(REGION_CLASS, r) for r in regions(entries)]
    restarts = 0
    while True:
        savepoint = conn.begin_nested()
        held = set(want)
        extra: list[LockKey] = []
        try:
            _lock_all(conn, want)
            lap = time.perf_counter()
            pairs = find()
            spent_finding += time.perf_counter() - lap
            stored = sorted({s for _, s in pairs})
            while True:
                extra = sorted(set(_component_keys(conn, stored)) - held)
                if not extra:
                    savepoint.commit()  # RELEASE SAVEPOINT keeps the locks
                    if timings is not None:
                        total = (time.perf_counter() - started) * 1000
                        timings["match_lock"] = total - spent_finding * 1000
                        timings["candidates"] = spent_finding * 1000
                    components = sum(1 for k in held if k[0] == COMPONENT_CLASS)
                    return FileLocks(pairs, len(held) - components, components, restarts)
                if not _try_lock_all(conn, extra):
                    break
                held.update(extra)  # and read the components again, now under their locks
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) not in _RETRY:
                raise
        savepoint.rollback()  # drops every lock taken since the savepoint
        restarts += 1
        want = sorted(held | set(extra))


def _lock_all(conn: Connection, keys: Sequence[LockKey]) -> None:
    """Wait for each key in turn, in the order given (sorted: the deadlock rule)."""
    if keys:
        conn.execute(_LOCK, _arrays(keys))


def _try_lock_all(conn: Connection, keys: Sequence[LockKey]) -> bool:
    """Take those keys that are free; whether all were."""
    return bool(conn.execute(_TRY, _arrays(keys)).scalar_one())


# unnest() yields the rows in array order and the aggregate evaluates them in that order
_LOCK = sa.text(
    "SELECT count(pg_advisory_xact_lock(k.c, k.o)) "
    "FROM unnest(CAST(:c AS int[]), CAST(:o AS int[])) AS k(c, o)"
)
_TRY = sa.text(
    "SELECT bool_and(pg_try_advisory_xact_lock(k.c, k.o)) "
    "FROM unnest(CAST(:c AS int[]), CAST(:o AS int[])) AS k(c, o)"
)


def _arrays(keys: Sequence[LockKey]) -> dict[str, str]:
    return {
        "c": "{" + ",".join(str(c) for c, _ in keys) + "}",
        "o": "{" + ",".join(str(o) for _, o in keys) + "}",
    }


# The components of the candidates, and those linked to them by an ambiguous decision.
_COMPONENTS = sa.text(
    "WITH c AS (SELECT DISTINCT component_id FROM source_events "
    "           WHERE id = ANY(CAST(:ids AS text[])) AND component_id IS NOT NULL), "
    "m AS (SELECT e.id FROM source_events e JOIN c ON e.component_id = c.component_id) "
    "SELECT component_id FROM c "
    "UNION SELECT o.component_id FROM m "
    "  JOIN match_decisions d ON d.a_id = m.id AND d.decision = 'ambiguous' "
    "  JOIN source_events o ON o.id = d.b_id WHERE o.component_id IS NOT NULL "
    "UNION SELECT o.component_id FROM m "
    "  JOIN match_decisions d ON d.b_id = m.id AND d.decision = 'ambiguous' "
    "  JOIN source_events o ON o.id = d.a_id WHERE o.component_id IS NOT NULL"
)


def _component_keys(conn: Connection, stored: Collection[str]) -> list[LockKey]:
    if not stored:
        return []
    rows = conn.execute(_COMPONENTS, {"ids": text_array(stored)}).scalars().all()
    return [(COMPONENT_CLASS, _int4(int(c))) for c in rows]


def _int4(value: int) -> int:
    """``value`` wrapped into PostgreSQL's int4 range (a collision only serialises more)."""
    return (value + 2**31) % 2**32 - 2**31


def regions(entries: Mapping[str, Mapping[str, int]]) -> list[int]:
    """The sorted region lock ids of these blocking-index rows (see the module text)."""
    return sorted({_hash(region_of(prefix)) for e in entries.values() for prefix in e})


def region_of(prefix: str) -> str:
    """The region of one blocking key (without its start-time slot).

    Keys are ``family|day|value`` (``blocking.py``).  Equal keys give equal
    regions, which is all correctness needs; how coarse a region is only
    decides how many locks a file takes and how often two files wait for
    each other.
    """
    family, _, rest = prefix.partition("|")
    if family != "dg":
        return prefix  # dc|day|town, dt|day|word (and anything unknown: itself)
    day, _, cell = rest.partition("|")
    parts = cell.split("|")
    try:
        if len(parts) == 3:  # g<grid>|<lat index>|<lon index>
            lat, lon = int(parts[1]) // _GRID_CELLS, int(parts[2]) // _GRID_CELLS
            return f"dg|{day}|{parts[0]}|{lat}|{lon}"
        if len(parts) == 2:  # <lat>|<lon> in degrees
            lat = math.floor(float(parts[0]) / _LAT_DEG)
            lon = math.floor(float(parts[1]) / _LON_DEG)
            return f"dg|{day}|{lat}|{lon}"
    except ValueError:
        pass
    return prefix


def _hash(region: str) -> int:
    return int.from_bytes(hashlib.blake2b(region.encode(), digest_size=4).digest(), signed=True)


__all__ = [
    "COMPONENT_CLASS",
    "MATCH_LOCK",
    "REGION_CLASS",
    "FileLocks",
    "lock_file",
    "region_of",
    "regions",
    "share_matching",
]
