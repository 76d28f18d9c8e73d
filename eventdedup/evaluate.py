"""``eventdedup eval``: ingest a folder into a throw-away database and grade the clusters.

The folder goes through the daemon's own pipeline (validation, incremental
matching, one transaction per file), so the figures describe what the daemon
would really produce, not a separate batch model of it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from eventdedup.db.dedup import DbDeduplicator, score_from_row
from eventdedup.db.embedded import EmbeddedPostgres
from eventdedup.db.engine import create_engine
from eventdedup.db.migrate import upgrade_head
from eventdedup.db.tables import match_decisions, source_events
from eventdedup.export import export_clusters
from eventdedup.matching import EventRecord, MatchingConfig, evaluate_clusters
from eventdedup.matching.evaluation import false_merges, missed_pairs
from eventdedup.pipeline import FileProcessor


@contextlib.contextmanager
def throwaway_database(server_url: str | None) -> Iterator[str]:
    """A fresh database: on the configured server, or on a temporary embedded one."""
    if server_url:
        name = f"eventdedup_eval_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(
            server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    root = Path(tempfile.mkdtemp(prefix="eventdedup-eval-"))
    server = EmbeddedPostgres(root / "pgdata")
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def evaluate_folder(
    folder: Path,
    truth: dict[str, str],
    cfg: MatchingConfig,
    server_url: str | None,
    *,
    limit: int = 10,
) -> dict[str, Any]:
    files = sorted(folder.glob("*_*.json"))
    with throwaway_database(server_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(url)
        try:
            upgrade_head(engine)
            work = Path(tmp)
            processor = FileProcessor(
                engine=engine,
                archive_dir=work / "archive",
                dead_letter_dir=work / "dead",
                deduplicator=DbDeduplicator(cfg),
            )
            for path in files:
                copy = work / path.name
                shutil.copyfile(path, copy)
                processor.process(copy)
            with engine.connect() as conn:
                clusters = export_clusters(conn)["clusters"]
                records = {
                    r.id: EventRecord.from_json(r.record)
                    for r in conn.execute(sa.select(source_events.c.id, source_events.c.record))
                }
                scores = [
                    score_from_row(r)
                    for r in conn.execute(
                        sa.select(
                            match_decisions.c.a_id,
                            match_decisions.c.b_id,
                            match_decisions.c.decision,
                            match_decisions.c.combined,
                            match_decisions.c.score,
                        )
                    )
                ]
        finally:
            engine.dispose()
    metrics = evaluate_clusters(clusters, truth)
    return {
        "files": len(files),
        "events": len(records),
        "metrics": metrics,
        "false_merges": false_merges(clusters, truth, records, scores, limit=limit),
        "missed_pairs": missed_pairs(clusters, truth, records, scores, limit=limit),
    }


def load_truth(path: Path) -> dict[str, str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return {row["id"]: row["key"] for row in map(json.loads, text.splitlines()) if row}
    return json.loads(text)


def format_report(report: dict[str, Any]) -> str:
    m = report["metrics"]
    lines = [
        f"{report['files']} files, {report['events']} events, {m['clusters']} clusters "
        f"(truth: {m['true_clusters']} real events)",
        f"pairwise  precision {m['pairwise_precision']:.4f}  recall {m['pairwise_recall']:.4f}"
        f"  F1 {m['pairwise_f1']:.4f}",
        f"B-cubed   precision {m['bcubed_precision']:.4f}  recall {m['bcubed_recall']:.4f}"
        f"  F1 {m['bcubed_f1']:.4f}",
    ]
    for title, rows in (
        ("worst false merges", report["false_merges"]),
        ("missed pairs", report["missed_pairs"]),
    ):
        lines.append(f"\n{title}:")
        if not rows:
            lines.append("  (none)")
        for row in rows:
            s = row.get("score") or {}
            signals = (
                f"date {s.get('date', 0):.2f} geo {s.get('geo', 0):.2f} "
                f"title {s.get('title', 0):.2f} desc {s.get('description', 0):.2f} "
                f"→ {s.get('combined', 0):.2f} {s.get('decision', 'not scored')}"
                if s
                else "not a candidate pair"
            )
            lines.append(
                f"  {row['title_a']!r} ({row['city_a']}) ~ {row['title_b']!r} "
                f"({row['city_b']})\n      {signals}"
                + (f" — {s['reason']}" if s.get("reason") else "")
            )
    return "\n".join(lines)
