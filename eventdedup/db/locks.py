"""Which advisory locks matching takes, so replicas match files of different places at once.

Two files must not match at the same time when their new events could be a
candidate pair (neither would see the other's uncommitted events), or when
both change the same match-graph component.  Everything else may overlap.
So a file takes, all transaction-scoped (docs/reliability.md, "Replicas"):

1. ``MATCH_LOCK`` **shared**.  Operator paths (review operations, undo,
   resolver answers, ``config.set``) take it **exclusive**: they wait for the
   files in flight and exclude all files while they run.
2. **region** locks for its new events, blocking, in sorted order, before it
   looks for candidates (:func:`wanted`).  A region is the place part of a
   blocking key, coarsened, per calendar month: the town of a town key; for
   a geo-cell key the ~11 km squares of four half-shifted grids around the
   cell, so listings less than ~4.5 km apart always share one (the place
   guard calls listings more than 3 km apart different events), also when
   they share no key.  Equal keys give equal regions: a pair found by a town
   or geo key is never missed.  Title-word keys carry no place: an event
   with a place takes each of its title keys (day and word) shared, one
   without any (no town, no trusted point) exclusive, so a place-less
   listing never misses a partner, and listings with a place never wait for
   each other over a title word.
   What is not serialised: two listings in different towns, farther apart
   than ~4.5 km or without a trusted point, that share only a title word; the
   place guard scores those as different events (unless one names the
   other's town), so such a pair is compared only when their files do not
   overlap.
3. one lock per **component** it changes or asks about: those of the stored
   candidates it decides *match* (joins) or *ambiguous* (a merge question),
   and those tied by an ambiguous decision to a joined component (their
   merge questions are refreshed with it).  A candidate decided *no match* is
   only read (its record never changes), so its component stays free.  These
   are only known once the candidates are scored, so they are *tried*
   without waiting.  When one is busy the file rolls back to its
   savepoint (which drops the locks taken in it), then waits for the
   complete set in sorted order and looks (and scores) again.  A transaction therefore
   only ever waits while holding nothing but smaller keys: no deadlock
   between files.  Component ids are re-read after locking until no new one
   appears, so what the file goes on with is what its locks protect.

A deadlock or serialization failure while taking locks is retried from the
savepoint; one later in the transaction propagates, and the processor retries
the file from the start (``DB_DOWN``), so a file is never lost.

A file that has waited :data:`REPORT_WAITS_AFTER` seconds for these locks logs
which sessions hold them (pid, state, how long, their query; an idle transaction
holding locks is what a hang looks like) and waits on: the wait is made in turns
of that length with ``lock_timeout``, each turn from the savepoint.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TypeVar

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from eventdedup.db.events import text_array
from eventdedup.matching.config import BlockingConfig

MATCH_LOCK = 0x6576_6D61  # "evma": one bigint key
#: classid of the two-int4 advisory keys (never collide with the one-bigint keys)
REGION_CLASS = 0x6576_7267  # "evrg"
TITLE_CLASS = 0x6576_7477  # "evtw"
COMPONENT_CLASS = 0x6576_636F  # "evco"

#: size of a geo region (~11 x 11 km in the region's latitudes)
_LAT_DEG, _LON_DEG = 0.1, 0.15
#: shifts of the fine grids' cell centres (``blocking.geo_cells``)
_GRID_SHIFT = {"g1": (0.5, 0.0), "g2": (0.0, 0.5), "g3": (0.5, 0.5)}

#: SQLSTATEs worth retrying: deadlock detected, serialization failure
_RETRY = frozenset({"40P01", "40001"})
#: SQLSTATE lock_not_available: ``lock_timeout`` ran out
_LOCK_TIMEOUT = "55P03"
#: seconds a file waits for its locks before it logs who holds them (and waits on)
REPORT_WAITS_AFTER = 10.0

log = logging.getLogger(__name__)

LockKey = tuple[int, int]
#: lock -> exclusive (True) or shared (False)
Wanted = dict[LockKey, bool]
#: (stored events a file joins, stored events it ties to by an ambiguous decision)
Reach = tuple[Collection[str], Collection[str]]
T = TypeVar("T")


def share_matching(conn: Connection) -> None:
    """``MATCH_LOCK`` shared (re-entrant): no operator path runs until commit."""
    conn.execute(sa.select(sa.func.pg_advisory_xact_lock_shared(MATCH_LOCK)))


@attrs.frozen
class FileLocks:
    """What :func:`lock_file` took."""

    regions: int
    titles: int
    components: int
    restarts: int
    #: ``time.monotonic()`` when its region locks were granted (all are held until commit)
    acquired_at: float


def lock_file(
    conn: Connection,
    entries: Mapping[str, Mapping[str, int]],
    blocking: BlockingConfig,
    look: Callable[[], T],
    reach: Callable[[T], Reach],
    timings: dict[str, float] | None = None,
    report_after: float = REPORT_WAITS_AFTER,
) -> tuple[T, FileLocks]:
    """Lock what a file's matching touches; return ``look()`` done under those locks.

    ``entries`` are the new events' blocking-index rows (``{event: {prefix: slots}}``,
    made with ``blocking``).  ``look`` finds and scores the candidates; ``reach`` says
    which stored events it joins (decided *match*) and ties to (*ambiguous*); a stored
    candidate decided *no match* is only read, and its component is left to others.
    ``timings["match_lock"]`` gets the time spent outside ``look``: taking locks and
    waiting for them.  After ``report_after`` seconds of waiting for them it logs who
    holds them, and again after each further ``report_after``.
    """
    started = time.perf_counter()
    looking = 0.0
    # MATCH_LOCK shared (as share_matching), and lock waits in turns of report_after
    previous = conn.execute(
        _SHARE_AND_BOUND,
        {"k": MATCH_LOCK, "t": f"{max(1, round(report_after * 1000))}ms"},
    ).one()[0]
    want = wanted(entries, blocking)
    restarts = 0
    waited = 0.0
    while True:
        savepoint = conn.begin_nested()
        held = dict(want)
        extra: list[LockKey] = []
        try:
            _lock_all(conn, want)
            granted = time.monotonic()
            lap = time.perf_counter()
            found = look()
            looking += time.perf_counter() - lap
            joined, tied = (sorted(set(ids)) for ids in reach(found))
            ids = sorted({*joined, *tied})
            # the components of those events (cheap); then, under their locks, with the
            # components tied to the joined ones by ambiguous decisions (their merge
            # questions are refreshed too), read again until nothing new turns up
            full = False
            while True:
                keys = _component_keys(conn, ids, joined if full else None)
                extra = sorted(set(keys) - held.keys())
                if not extra and (full or not joined):
                    savepoint.commit()  # RELEASE SAVEPOINT keeps the locks
                    conn.execute(_SET_LOCK_TIMEOUT, {"t": previous})  # the rest waits as before
                    if timings is not None:
                        spent = time.perf_counter() - started - looking
                        timings["match_lock"] = timings.get("match_lock", 0.0) + spent * 1000
                    return found, FileLocks(
                        sum(1 for k in held if k[0] == REGION_CLASS),
                        sum(1 for k in held if k[0] == TITLE_CLASS),
                        sum(1 for k in held if k[0] == COMPONENT_CLASS),
                        restarts,
                        granted,
                    )
                if extra:
                    if not _try_lock_all(conn, extra):
                        break
                    held.update(dict.fromkeys(extra, True))
                full = bool(joined)  # read again, under the locks
        except OperationalError as exc:
            state = getattr(exc.orig, "sqlstate", None)
            if state == _LOCK_TIMEOUT:  # a turn of waiting is over: say who holds them
                savepoint.rollback()
                waited += report_after
                _report_wait(conn, want, waited)
                continue
            if state not in _RETRY:
                raise
        savepoint.rollback()  # drops every lock taken since the savepoint
        restarts += 1
        want = held | dict.fromkeys(extra, True)


def _lock_all(conn: Connection, want: Wanted) -> None:
    """Wait for each lock in turn, in sorted order (the deadlock rule)."""
    if want:
        keys = sorted(want)
        params = _arrays(keys)
        params["x"] = "{" + ",".join("t" if want[k] else "f" for k in keys) + "}"
        conn.execute(_LOCK, params)


def _try_lock_all(conn: Connection, keys: Sequence[LockKey]) -> bool:
    """Take those keys that are free; whether all were."""
    return bool(conn.execute(_TRY, _arrays(keys)).scalar_one())


# unnest() yields the rows in array order and the aggregate evaluates them in that order
_LOCK = sa.text(
    "SELECT count(CASE WHEN k.x THEN pg_advisory_xact_lock(k.c, k.o) "
    "                  ELSE pg_advisory_xact_lock_shared(k.c, k.o) END) "
    "FROM unnest(CAST(:c AS int[]), CAST(:o AS int[]), CAST(:x AS boolean[])) AS k(c, o, x)"
)
_TRY = sa.text(
    "SELECT bool_and(pg_try_advisory_xact_lock(k.c, k.o)) "
    "FROM unnest(CAST(:c AS int[]), CAST(:o AS int[])) AS k(c, o)"
)


# a target list is evaluated in order: the setting before it is changed
_SHARE_AND_BOUND = sa.text(
    "SELECT current_setting('lock_timeout'), "
    "       pg_advisory_xact_lock_shared(CAST(:k AS bigint)), "
    "       set_config('lock_timeout', :t, true)"
)
_SET_LOCK_TIMEOUT = sa.text("SELECT set_config('lock_timeout', :t, true)")
# the other sessions holding a wanted lock in a conflicting mode
_HOLDERS = sa.text(
    "SELECT a.pid, a.application_name, a.state, "
    "       round(extract(epoch FROM now() - a.xact_start)) AS xact_s, "
    "       round(extract(epoch FROM now() - a.state_change)) AS state_s, "
    "       left(a.query, 160) AS query, count(*) AS locks "
    "FROM unnest(CAST(:c AS int[]), CAST(:o AS int[]), CAST(:x AS boolean[])) AS k(c, o, x) "
    "JOIN pg_locks l ON l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted "
    "  AND l.classid = CAST(k.c AS oid) AND l.objid = CAST(k.o AS oid) "
    "  AND (k.x OR l.mode = 'ExclusiveLock') AND l.pid <> pg_backend_pid() "
    "  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "GROUP BY a.pid, a.application_name, a.state, a.xact_start, a.state_change, a.query "
    "ORDER BY a.pid"
)


def _report_wait(conn: Connection, want: Wanted, waited: float) -> None:
    """Log which sessions hold the locks a file has waited ``waited`` seconds for."""
    keys = sorted(want)
    params = _arrays(keys)
    params["x"] = "{" + ",".join("t" if want[k] else "f" for k in keys) + "}"
    holders = [
        f"pid {r.pid} ({r.application_name or '-'}, {r.state}, for {r.state_s:.0f} s in a "
        f"transaction of {r.xact_s:.0f} s, {r.locks} of the locks, last query {r.query!r})"
        for r in conn.execute(_HOLDERS, params)
    ]
    log.warning(
        "a file has waited %.1f s for %d match locks; held by %s",
        waited,
        len(keys),
        "; ".join(holders) or "nobody now (released meanwhile)",
        extra={"event": "locks.waiting", "waited_s": waited, "holders": len(holders)},
    )


def _arrays(keys: Sequence[LockKey]) -> dict[str, str]:
    return {
        "c": "{" + ",".join(str(c) for c, _ in keys) + "}",
        "o": "{" + ",".join(str(o) for _, o in keys) + "}",
    }


_CANDIDATE_COMPONENTS = sa.text(
    "SELECT DISTINCT component_id FROM source_events "
    "WHERE id = ANY(CAST(:ids AS text[])) AND component_id IS NOT NULL"
)
# ... and those tied by an ambiguous decision to a member of a joined event's component
_COMPONENTS = sa.text(
    "WITH j AS (SELECT DISTINCT component_id FROM source_events "
    "           WHERE id = ANY(CAST(:joined AS text[])) AND component_id IS NOT NULL), "
    "m AS (SELECT e.id FROM source_events e JOIN j ON e.component_id = j.component_id) "
    "SELECT component_id FROM source_events "
    "  WHERE id = ANY(CAST(:ids AS text[])) AND component_id IS NOT NULL "
    "UNION SELECT o.component_id FROM m "
    "  JOIN match_decisions d ON d.a_id = m.id AND d.decision = 'ambiguous' "
    "  JOIN source_events o ON o.id = d.b_id WHERE o.component_id IS NOT NULL "
    "UNION SELECT o.component_id FROM m "
    "  JOIN match_decisions d ON d.b_id = m.id AND d.decision = 'ambiguous' "
    "  JOIN source_events o ON o.id = d.a_id WHERE o.component_id IS NOT NULL"
)


def _component_keys(
    conn: Connection, ids: Sequence[str], joined: Sequence[str] | None
) -> list[LockKey]:
    """Component locks of ``ids``, and with ``joined`` of what is tied to those."""
    if not ids:
        return []
    if joined is None:
        rows = conn.execute(_CANDIDATE_COMPONENTS, {"ids": text_array(ids)})
    else:
        rows = conn.execute(_COMPONENTS, {"ids": text_array(ids), "joined": text_array(joined)})
    return [(COMPONENT_CLASS, _int4(int(c))) for c in rows.scalars().all()]


def _int4(value: int) -> int:
    """``value`` wrapped into PostgreSQL's int4 range (a collision only serialises more)."""
    return (value + 2**31) % 2**32 - 2**31


def wanted(entries: Mapping[str, Mapping[str, int]], blocking: BlockingConfig) -> Wanted:
    """The region and title-key locks of these events' blocking-index rows (module text)."""
    places: set[tuple[str, str, str]] = set()  # (family, month, value): a day collapses
    titles: dict[str, bool] = {}  # "day|word" -> exclusive
    for prefixes in entries.values():
        placed = any(p.startswith(_PLACE_FAMILIES) for p in prefixes)
        for prefix in prefixes:
            family, _, rest = prefix.partition("|")
            if family == "dt":
                titles[rest] = titles.get(rest, False) or not placed
            else:
                day, _, value = rest.partition("|")
                places.add((family, day[:7], value))
    out: Wanted = {(TITLE_CLASS, _hash(r)): exclusive for r, exclusive in titles.items()}
    cells = (blocking.cell_lat_deg, blocking.cell_lon_deg)
    for family, month, value in places:
        for region in regions_of(family, month, value, cells):
            out[(REGION_CLASS, _hash(region))] = True
    return out


_PLACE_FAMILIES = ("dc|", "dg|")


def regions_of(family: str, month: str, value: str, cells: tuple[float, float]) -> list[str]:
    """The regions of a blocking key ``family|<day of month>|value`` (slot-free).

    ``cells`` are the geo cells' size in degrees (``blocking.cell_lat_deg``, ``…lon_deg``).
    """
    if family == "dg":
        centre = _cell_centre(value, cells)
        if centre is not None:
            lat, lon = centre
            return [
                f"dg|{month}|{i}|{math.floor(lat / _LAT_DEG - a)}|{math.floor(lon / _LON_DEG - b)}"
                for i, (a, b) in enumerate(((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)))
            ]
    if family == "dc":
        return [f"dc|{month}|{value}"]
    return [f"{family}|{month}|{value}"]  # a key of another kind: its value per month


def _cell_centre(value: str, cells: tuple[float, float]) -> tuple[float, float] | None:
    """The centre of a geo-cell key's cell in degrees (``blocking.geo_cells``)."""
    parts = value.split("|")
    try:
        if len(parts) == 2:  # grid 0 prints the centre in degrees
            return float(parts[0]), float(parts[1])
        if len(parts) == 3 and parts[0] in _GRID_SHIFT:
            slat, slon = _GRID_SHIFT[parts[0]]
            return (int(parts[1]) + slat) * cells[0], (int(parts[2]) + slon) * cells[1]
    except ValueError:
        pass
    return None


def _hash(region: str) -> int:
    """A stable 32-bit key of the region (the same in every replica, unlike ``hash``)."""
    return _int4(zlib.crc32(region.encode()))


__all__ = [
    "COMPONENT_CLASS",
    "MATCH_LOCK",
    "REGION_CLASS",
    "REPORT_WAITS_AFTER",
    "TITLE_CLASS",
    "FileLocks",
    "lock_file",
    "regions_of",
    "share_matching",
    "wanted",
]
