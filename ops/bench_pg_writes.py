"""PostgreSQL's CPU for the rows of stored events, schema of migration 0007 against head.

    uv run python ops/bench_pg_writes.py [--events 4000] [--repeat 3]

Starts an embedded PostgreSQL with two databases, one migrated to 0007 (``jsonb``
records, raw listings and scores, foreign-key triggers, the ``file_id`` index)
and one to head, and loads the same rows of a generated corpus into each with the
commit stage's own functions: the events (with record, component and canonical),
their dates, blocking-index rows, decisions and canonicals; then reads the
records and scores back as the commit stage does.  Prints the server backend's
CPU time (``/proc``) per row and per event, the best of ``--repeat`` loads, and
the size of ``source_events``.  Figures: docs/performance.md, "The commit stage's
writes".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import attrs
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventdedup.db.events import EventRows
from eventdedup.matching import Canonical, PairScore
from eventdedup.model import SourceEvent

_TABLES = "source_events, event_dates, event_blocking_keys, match_decisions, canonical_events"


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 10 ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    import sqlalchemy as sa
    from alembic import command

    from eventdedup.db.dedup import prepare_events
    from eventdedup.db.embedded import EmbeddedPostgres
    from eventdedup.db.engine import create_engine
    from eventdedup.db.events import copy_text, event_rows
    from eventdedup.db.migrate import alembic_config, upgrade_head
    from eventdedup.matching import dedupe_batch, load_matching_config
    from eventdedup.synth.corpus import Spec, synthetic_corpus

    cfg = load_matching_config(None)
    events = synthetic_corpus(Spec(1, None, args.events)).events
    result = dedupe_batch(events, cfg)
    prepared = prepare_events(events, cfg)
    ids = [e.id for e in events]
    data = _Data(
        events,
        event_rows(events),
        {i: (prepared.record_json[i], n, n) for n, i in enumerate(ids)},
        [
            f"{copy_text(prefix)}\t{copy_text(i)}\t{slots}"
            for i in ids
            for prefix, slots in prepared.entries[i].items()
        ],
        result.decisions,
        result.canonicals,
    )
    print(
        f"{len(ids)} events: {sum(len(data.rows.dates[i]) for i in ids)} dates, "
        f"{len(data.blocking)} blocking rows, {len(data.decisions)} decisions, "
        f"{len(data.canonicals)} canonicals; PostgreSQL backend CPU, best of {args.repeat}"
    )
    with tempfile.TemporaryDirectory(prefix="pgwrites-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pgdata")
        url = pg.start()
        try:
            admin = create_engine(url)
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for name in ("w0007", "whead"):
                    conn.execute(sa.text(f"CREATE DATABASE {name}"))
            admin.dispose()
            for name in ("w0007", "whead"):
                db_url = sa.engine.make_url(url).set(database=name)
                engine = create_engine(db_url.render_as_string(hide_password=False))
                if name == "w0007":
                    alembic = alembic_config(db_url.render_as_string(hide_password=False))
                    with engine.connect() as connection:
                        alembic.attributes["connection"] = connection
                        command.upgrade(alembic, "0007")
                else:
                    upgrade_head(engine)
                _measure(name, engine, data, args.repeat)
                engine.dispose()
        finally:
            pg.stop()
    return 0


@attrs.frozen
class _Data:
    events: Sequence[SourceEvent]
    rows: EventRows
    matched: Mapping[str, tuple[str, int, int | None]]
    blocking: list[str]
    decisions: Sequence[PairScore]
    canonicals: Sequence[Canonical]


_RECORDS = "SELECT CAST(record AS text) FROM source_events WHERE id = ANY(CAST(:ids AS text[]))"


def _measure(name: str, engine: sa.Engine, data: _Data, repeat: int) -> None:
    from eventdedup.db.dedup import _insert_canonicals, _insert_decisions
    from eventdedup.db.events import copy_lines, insert_event_groups, text_array

    ids = [e.id for e in data.events]
    best: dict[str, float] = {}
    size = wal = 0
    for _ in range(repeat):
        with engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {_TABLES}, file_ingestions CASCADE"))
        with engine.begin() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            file_id = conn.execute(
                sa.text(
                    "INSERT INTO file_ingestions (filename, file_hash, source_code, state, "
                    "size_bytes) VALUES ('f', 'h', 's', 'completed', 1) RETURNING id"
                )
            ).scalar_one()
            group = (file_id, data.events, data.rows)
            steps: list[tuple[str, Callable[[], object]]] = [
                (
                    "events + dates",
                    lambda g=group: insert_event_groups(conn, [g], data.matched),  # type: ignore[misc]
                ),
                (
                    "blocking rows",
                    lambda: copy_lines(
                        conn, "event_blocking_keys", ("key", "event_id", "slots"), data.blocking
                    ),
                ),
                ("decisions", lambda: _insert_decisions(conn, data.decisions)),
                ("canonicals", lambda: _insert_canonicals(conn, data.canonicals)),
                (
                    "read records",
                    lambda: conn.execute(sa.text(_RECORDS), {"ids": text_array(ids)}).all(),
                ),
                (
                    "read scores",
                    lambda: conn.execute(sa.text("SELECT score FROM match_decisions")).all(),
                ),
            ]
            lsn = conn.execute(sa.text("SELECT pg_current_wal_insert_lsn()")).scalar_one()
            for step, fn in steps:
                before = _cpu(pid)
                fn()
                spent = _cpu(pid) - before
                best[step] = min(best.get(step, spent), spent)
            wal = conn.execute(
                sa.text("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :lsn)"), {"lsn": lsn}
            ).scalar_one()
        with engine.connect() as conn:
            size = conn.execute(
                sa.text("SELECT pg_total_relation_size('source_events')")
            ).scalar_one()
    n = len(ids)
    counts = {
        "events + dates": n,
        "blocking rows": len(data.blocking),
        "decisions": len(data.decisions),
        "canonicals": len(data.canonicals),
        "read records": n,
        "read scores": len(data.decisions),
    }
    writes = sum(v for k, v in best.items() if not k.startswith("read"))
    print(
        f"{name}: writes {1e3 * writes / n:.3f} ms per event; "
        f"source_events {size / n:.0f} bytes per event; WAL {float(wal) / n:.0f} bytes per event"
    )
    for step, spent in best.items():
        print(
            f"  {step:16s} {1e6 * spent / counts[step]:6.1f} µs per row, "
            f"{1e3 * spent / n:.3f} ms per event"
        )


if __name__ == "__main__":
    raise SystemExit(main())
