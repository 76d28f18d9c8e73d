"""``eventdedup ingest`` of a backlog goes through the batch path and ends as file by file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.export import export_clusters
from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from tests._support.cli import cli_env, run_cli
from tests._support.db import rows, scalar


@pytest.mark.parametrize("score_ahead", ["false", "true"])
def test_ingest_of_a_backlog_commits_batches_and_a_bad_file_fails_alone(
    tmp_path: Path, database_url: str, corpus_files: list[Path], score_ahead: str
) -> None:
    """Also with the parse worker scoring pairs ahead (``EVENT_DEDUP_SCORE_AHEAD``)."""
    backlog = tmp_path / "backlog"
    backlog.mkdir()
    for path in corpus_files:
        (backlog / path.name).write_bytes(path.read_bytes())
    # sorted between the good files, so it lands inside a batch
    (backlog / "den_04.02.2026_broken.json").write_bytes(corpus_files[2].read_bytes()[:5000])
    env = cli_env(
        tmp_path,
        EVENT_DEDUP_DATABASE_URL=database_url,
        EVENT_DEDUP_BATCH_FILES="4",
        EVENT_DEDUP_SCORE_AHEAD=score_ahead,
    )

    result = run_cli(["ingest", str(backlog)], env, tmp_path, timeout=300)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "den_04.02.2026_broken.json" in result.stdout
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted(
        p.name for p in corpus_files
    )
    assert (tmp_path / "dead_letters" / "den_04.02.2026_broken.json.error.json").exists()
    engine = sa.create_engine(database_url)
    try:
        files = rows(engine, "SELECT filename, state, events_accepted FROM file_ingestions")
        processed = [
            m.data for m in rows(engine, "SELECT data FROM outbox WHERE type = 'file.processed'")
        ]
        events = [e for p in corpus_files for e in load_file(p.read_bytes(), p.name).events]
        assert scalar(engine, "SELECT count(*) FROM source_events") == len(events)
        with engine.connect() as conn:
            clusters = {frozenset(c) for c in export_clusters(conn)["clusters"]}
    finally:
        engine.dispose()
    assert sorted((f.filename, f.state) for f in files) == sorted(
        [(p.name, "completed") for p in corpus_files] + [("den_04.02.2026_broken.json", "failed")]
    )
    # one file.processed per file; those parsed while another was committed went in batches
    assert sorted(m["file"] for m in processed) == sorted(p.name for p in corpus_files)
    batched = [m for m in processed if m.get("batch", {}).get("files", 1) > 1]
    assert len(batched) >= 2, json.dumps(processed)[:2000]
    # batches after the first were opened (candidates found, scored) while the one before
    # was committing, and used that
    assert any(m["batch"]["looked_ahead"] for m in batched), json.dumps(processed)[:2000]
    reference = dedupe_batch(events, load_matching_config(None))
    assert clusters == {frozenset(c) for c in reference.clusters}
