"""Queries for file ingestions, source events and their dates.

Bulk rows go in with ``COPY`` (:func:`copy_rows`), formatted here rather than
by the driver's per-value adapters: for a 200-event file that is one round
trip and a few milliseconds instead of hundreds of bound parameters.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.tables import event_dates, file_ingestions, source_events
from eventdedup.jsonsafe import json_safe
from eventdedup.model import Listing, SourceEvent


def content_hash(raw: Mapping[str, Any]) -> str:
    """Hash of an event's content, independent of key order and whitespace."""
    return _safe_json(raw)[1]


def _safe_json(raw: Mapping[str, Any]) -> tuple[str, str]:
    """``raw`` passed through ``json_safe`` as canonical JSON text, and its content hash.

    Nearly every event is safe as it is (no NaN, no NUL, no lone surrogate), and
    for those ``json_safe`` would return an equal copy; that is checked on the
    serialised text, far cheaper than copying the structure first.
    """
    try:
        text = _canonical(raw)
        data = text.encode()  # a lone surrogate cannot be encoded
        if "\\u0000" not in text:  # a NUL, escaped by json (or a harmless false alarm)
            return text, hashlib.sha256(data).hexdigest()
    except (ValueError, TypeError, UnicodeEncodeError):  # NaN / Infinity, lone surrogate, …
        pass
    text = _canonical(json_safe(raw))
    return text, hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


# --- COPY ---------------------------------------------------------------------------------------

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_COPY_SPECIAL = re.compile(r"[\\\n\r\t]")
#: rows per ``COPY`` write: tens of kilobytes for most rows
_COPY_CHUNK_ROWS = 256


def copy_value(value: Any) -> str:
    """One value in COPY's text format (``\\N`` is NULL); JSON must be passed as text."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return copy_text(value)
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(f"cannot COPY a {type(value).__name__}")


def copy_text(value: str) -> str:
    """A string in COPY's text format (backslash, tab, newline and CR escaped)."""
    # translate() with multi-character replacements is slow; most strings need none
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def copy_json(text: str) -> str:
    """JSON text in COPY's text format: JSON escapes control characters itself, so only
    its backslashes need doubling (a substring test and a replace, far cheaper than
    :func:`copy_text`'s search of a long text)."""
    return text.replace("\\", "\\\\") if "\\" in text else text


def copy_row(values: Iterable[Any]) -> str:
    """One row in COPY's text format: the values escaped, tab-separated."""
    return "\t".join([copy_value(v) for v in values])


def copy_rows(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Bulk-load rows with one ``COPY … FROM STDIN`` inside the caller's transaction."""
    return copy_lines(conn, table, columns, map(copy_row, rows))


def copy_lines(conn: Connection, table: str, columns: Sequence[str], lines: Iterable[str]) -> int:
    """Like :func:`copy_rows` with rows already formatted (values escaped, tab-separated)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    rows = lines if isinstance(lines, list) else list(lines)
    with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for start in range(0, len(rows), _COPY_CHUNK_ROWS):
            copy.write("\n".join(rows[start : start + _COPY_CHUNK_ROWS]) + "\n")
    return len(rows)


def try_lock_file(conn: Connection, file_hash: str) -> bool:
    """Claim a file for this transaction so two replicas never process it together."""
    key = sa.func.hashtextextended(file_hash, 0)
    return bool(conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(key))).scalar_one())


def completed_by_hash(conn: Connection, file_hash: str) -> sa.Row[Any, Any] | None:
    return conn.execute(
        sa.select(file_ingestions.c.id, file_ingestions.c.filename)
        .where(file_ingestions.c.file_hash == file_hash)
        .where(file_ingestions.c.state == "completed")
    ).first()


def stored_content_hashes(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[str, int]]:
    """Content hash and file id of those ``ids`` that are already stored."""
    if not ids:
        return {}
    rows = conn.execute(
        sa.text(
            "SELECT id, content_hash, file_id FROM source_events "
            "WHERE id = ANY(CAST(:ids AS text[]))"
        ),
        {"ids": text_array(ids)},
    )
    return {r.id: (r.content_hash, r.file_id) for r in rows}


def text_array(items: Iterable[str]) -> str:
    """A PostgreSQL array literal of strings: bind it as text and ``CAST(… AS text[])``.

    One parameter whatever the length, so the statement text stays the same for
    every file (and can stay prepared); far cheaper than the driver adapting a
    Python list element by element.
    """
    return (
        "{" + ",".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"' for s in items) + "}"
    )


def insert_file(conn: Connection, **values: Any) -> int:
    return conn.execute(
        file_ingestions.insert().values(**values).returning(file_ingestions.c.id)
    ).scalar_one()


def update_file(conn: Connection, file_id: int, **values: Any) -> None:
    conn.execute(file_ingestions.update().where(file_ingestions.c.id == file_id).values(**values))


def update_durations(conn: Connection, durations: Sequence[tuple[int, int]]) -> None:
    """``duration_ms`` of several files in one statement: ``(file id, ms)``."""
    if not durations:
        return
    conn.execute(
        sa.text(
            "UPDATE file_ingestions AS f SET duration_ms = v.ms "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:ms AS int[])) AS v(id, ms) "
            "WHERE f.id = v.id"
        ),
        {
            "ids": "{" + ",".join(str(int(i)) for i, _ in durations) + "}",
            "ms": "{" + ",".join(str(int(m)) for _, m in durations) + "}",
        },
    )


_EVENT_COLUMNS = (
    "id",
    "file_id",
    "source_code",
    "source_type",
    "title",
    "short_description",
    "description",
    "highlights",
    "location_name",
    "location_city",
    "location_printed_city",
    "location_district",
    "location_street",
    "location_street_no",
    "location_zipcode",
    "geo_latitude",
    "geo_longitude",
    "geo_confidence",
    "geo_country",
    "categories",
    "is_family_event",
    "is_child_focused",
    "admission_free",
    "registration_required",
    "registration_contact",
    "confidence_score",
    "raw",
    "content_hash",
)
_DATE_COLUMNS = ("event_id", "position", "date", "start_time", "end_time", "end_date")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@attrs.frozen
class EventRows:
    """A file's events formatted for ``COPY``, all but the file id (pure: made ahead).

    Canonical JSON, content hash and escaping cost more than the ``COPY``
    itself, and need nothing but the events, so the processor's parse stage
    makes them in its worker process while the previous file commits.
    """

    #: event id -> the row's text after ``id<TAB>file_id<TAB>``
    events: Mapping[str, str]
    #: event id -> its ``event_dates`` lines
    dates: Mapping[str, tuple[str, ...]]

    def covers(self, events: Iterable[Listing]) -> bool:
        return all(e.id in self.events for e in events)


def event_rows(events: Iterable[SourceEvent]) -> EventRows:
    return event_rows_and_hashes(events)[0]


def event_rows_and_hashes(events: Iterable[SourceEvent]) -> tuple[EventRows, dict[str, str]]:
    """:func:`event_rows`, and each event's :func:`content_hash` (made for its row anyway)."""
    rows: dict[str, str] = {}
    dates: dict[str, tuple[str, ...]] = {}
    hashes: dict[str, str] = {}
    for ev in events:
        loc = ev.location
        geo = loc.geo if loc else None
        raw_json, raw_hash = _safe_json(ev.raw)
        hashes[ev.id] = raw_hash
        rows[ev.id] = copy_row(
            (
                ev.source_code,
                ev.source_type,
                ev.title,
                ev.short_description,
                ev.description,
                _json(list(ev.highlights)),
                loc.name if loc else None,
                loc.city if loc else None,
                loc.printed_city if loc else None,
                loc.district if loc else None,
                loc.street if loc else None,
                loc.street_no if loc else None,
                loc.zipcode if loc else None,
                geo.latitude if geo else None,
                geo.longitude if geo else None,
                geo.confidence if geo else None,
                geo.country if geo else None,
                _json(list(ev.categories)),
                ev.is_family_event,
                ev.is_child_focused,
                ev.admission_free,
                ev.registration_required,
                ev.registration_contact,
                ev.confidence_score,
                raw_json,
                raw_hash,
            )
        )
        dates[ev.id] = tuple(
            copy_row((ev.id, position, d.date, d.start_time, d.end_time, d.end_date))
            for position, d in enumerate(ev.dates)
        )
    return EventRows(rows, dates), hashes


#: What matching adds to an event's row; inserted with the row when known by then.
_MATCHED_COLUMNS = ("record", "component_id", "canonical_id")

#: event id -> (normalized record as JSON, match-graph component, canonical id)
Matched = Mapping[str, tuple[str, int, int | None]]

#: Events to insert: (file id, the file's accepted events, their rows if made ahead)
EventGroup = tuple[int, Sequence[Listing], EventRows | None]


def insert_events(
    conn: Connection,
    file_id: int,
    events: Sequence[Listing],
    rows: EventRows | None = None,
    matched: Matched | None = None,
) -> int:
    """Insert source events and their dates with two ``COPY`` statements.

    ``rows`` is :func:`event_rows` of (at least) these events, if made ahead.
    """
    return insert_event_groups(conn, [(file_id, events, rows)], matched)


def event_line(
    event_id: str, prefix: str, row: str, matched: tuple[str, int, int | None] | None
) -> str:
    """An event's ``COPY`` line: its id, ``prefix`` (the file id between tabs), its row
    made ahead and, if given, its record, component and canonical."""
    if matched is None:
        return f"{copy_text(event_id)}{prefix}{row}"
    record, component, canonical = matched
    return f"{copy_text(event_id)}{prefix}{row}\t{copy_json(record)}\t{int(component)}\t" + (
        "\\N" if canonical is None else str(int(canonical))
    )


def insert_event_groups(
    conn: Connection, groups: Sequence[EventGroup], matched: Matched | None = None
) -> int:
    """Insert the events of one or more files with two ``COPY`` statements in all.

    ``matched`` (every event's record, component and canonical), when given, goes
    into the rows at once, so a matched event's row is written once, not inserted
    and then updated (an update of an indexed column rewrites every index entry).
    """
    lines: list[str] = []
    dates: list[str] = []
    for file_id, events, rows in groups:
        if not events:
            continue
        if rows is None or not rows.covers(events):
            rows = event_rows([e.in_full() for e in events])
        prefix = f"\t{int(file_id)}\t"
        for e in events:
            lines.append(
                event_line(
                    e.id, prefix, rows.events[e.id], None if matched is None else matched[e.id]
                )
            )
            dates.extend(rows.dates[e.id])
    if not lines:
        return 0
    columns = _EVENT_COLUMNS + (_MATCHED_COLUMNS if matched is not None else ())
    copy_lines(conn, source_events.name, columns, lines)
    if dates:
        copy_lines(conn, event_dates.name, _DATE_COLUMNS, dates)
    return len(lines)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
