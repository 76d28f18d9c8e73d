"""Rows and index entries PostgreSQL writes per event, and statements per file.

    uv run python ops/count_writes.py [--events 4000] [--seed 1] [--batch-files 0]

Ingests a generated corpus (``ops/synthetic.py``, 200-event files) into a new
embedded PostgreSQL through ``FileProcessor`` with the ``DbDeduplicator`` (file
by file, or ``--batch-files N`` files per transaction with
``FileProcessor.commit_batch``) and prints, per table, the deltas of
``pg_stat_user_tables`` around the ingest: rows inserted, updated (HOT or not),
deleted, and the index entries those writes made (an insert or a non-HOT
update adds one entry to every index of the table; a HOT update adds none),
all per event; then which indexes the ingest itself scanned
(``pg_stat_user_indexes.idx_scan``) and the statements per file (counted with
a ``before_cursor_execute`` listener, plus the ``COPY`` loads).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ops"))

from bench import embedded_postgres, table, write_file  # noqa: E402
from synthetic import generate, take  # noqa: E402

_TABLES = "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del FROM pg_stat_user_tables"
_INDEXES = "SELECT relname, indexrelname, idx_scan FROM pg_stat_user_indexes"


def _snapshot(engine: Any) -> tuple[dict[str, tuple[int, ...]], dict[tuple[str, str], int]]:
    import sqlalchemy as sa

    engine.dispose()  # a backend's statistics are flushed when it ends
    time.sleep(1.5)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        tables = {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(_TABLES))}
        indexes = {(r[0], r[1]): r[2] for r in conn.execute(sa.text(_INDEXES))}
    return tables, indexes


def count(events: int, seed: int, batch_files: int, work: Path) -> dict[str, Any]:
    import sqlalchemy as sa

    import eventdedup.db.dedup
    import eventdedup.db.events
    from eventdedup.config import load_settings
    from eventdedup.daemon import load_matching
    from eventdedup.db.dedup import DbDeduplicator
    from eventdedup.db.engine import create_engine
    from eventdedup.db.migrate import upgrade_head
    from eventdedup.pipeline import FileProcessor

    with embedded_postgres(work) as url:
        engine = create_engine(url)
        upgrade_head(engine)
        inbox = work / "inbox"
        inbox.mkdir()
        paths = [write_file(inbox, f) for f in take(generate(seed), events)]
        processor = FileProcessor(
            engine=engine,
            archive_dir=work / "archive",
            dead_letter_dir=work / "dead",
            deduplicator=DbDeduplicator(load_matching(load_settings(environ={}))),
        )
        statements: Counter[str] = Counter()
        on = [False]

        def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if on[0]:
                statements[" ".join(statement.split())[:60]] += 1

        for module in (eventdedup.db.events, eventdedup.db.dedup):
            real = module.copy_lines

            def copy_lines(conn: Any, name: str, *args: Any, _real: Any = real) -> int:
                if on[0]:
                    statements[f"COPY {name}"] += 1
                return _real(conn, name, *args)

            module.copy_lines = copy_lines  # type: ignore[attr-defined]
        sa.event.listen(engine, "before_cursor_execute", listen)
        tables0, indexes0 = _snapshot(engine)
        on[0] = True
        stored = 0
        if batch_files > 1:
            for start in range(0, len(paths), batch_files):
                parsed = [processor.parse(p) for p in paths[start : start + batch_files]]
                for outcome in processor.commit_batch(parsed):
                    stored += outcome.events_accepted
        else:
            for p in paths:
                stored += processor.process(p).events_accepted
        on[0] = False
        tables1, indexes1 = _snapshot(engine)
        with engine.connect() as conn:
            index_names = {
                r[0]: r[1]
                for r in conn.execute(
                    sa.text("SELECT indexrelname, relname FROM pg_stat_user_indexes")
                )
            }
        engine.dispose()
    per_table = {}
    for name, after in sorted(tables1.items()):
        before = tables0.get(name, (0, 0, 0, 0))
        ins, upd, hot, dele = (a - b for a, b in zip(after, before, strict=True))
        n_indexes = sum(1 for t in index_names.values() if t == name)
        if ins or upd or dele:
            per_table[name] = {
                "inserted": ins,
                "updated": upd,
                "hot": hot,
                "deleted": dele,
                "indexes": n_indexes,
                "index_entries": (ins + upd - hot) * n_indexes,
            }
    scans = {
        f"{t}.{i}": n - indexes0.get((t, i), 0)
        for (t, i), n in sorted(indexes1.items())
        if t in per_table
    }
    return {
        "events": stored,
        "files": len(paths),
        "batch_files": batch_files,
        "tables": per_table,
        "index_scans": scans,
        "statements": dict(statements),
    }


def report(result: dict[str, Any]) -> str:
    n = result["events"]
    rows = []
    total = [0.0, 0.0]
    for name, t in result["tables"].items():
        writes = t["inserted"] + t["updated"] + t["deleted"]
        total[0] += writes / n
        total[1] += t["index_entries"] / n
        rows.append(
            [
                name,
                f"{t['inserted'] / n:.2f}",
                f"{t['updated'] / n:.2f} ({t['hot'] / n:.2f} HOT)",
                f"{t['deleted'] / n:.2f}",
                t["indexes"],
                f"{t['index_entries'] / n:.2f}",
            ]
        )
    rows.append(["total", "", "", f"{total[0]:.2f} rows", "", f"{total[1]:.2f}"])
    out = [
        f"{n} events in {result['files']} files"
        + (f", {result['batch_files']} files per batch" if result["batch_files"] > 1 else ""),
        table(
            rows,
            ["table", "inserted/event", "updated/event", "deleted/event", "indexes", "entries/ev"],
        ),
        "index scans during the ingest: "
        + ", ".join(f"{k} {v}" for k, v in result["index_scans"].items()),
    ]
    units = (
        result["files"]
        if result["batch_files"] <= 1
        else -(-result["files"] // result["batch_files"])
    )
    per = "file" if result["batch_files"] <= 1 else "batch"
    stmts = sorted(result["statements"].items(), key=lambda kv: -kv[1])
    out.append(f"statements per {per}: {sum(result['statements'].values()) / units:.1f}")
    out.extend(f"  {v / units:6.2f}  {k}" for k, v in stmts)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-files", type=int, default=0)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        print(report(count(args.events, args.seed, args.batch_files, Path(tmp))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
