"""The DB-backed incremental path: same clusters as the batch reference, in any file order."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.db.dedup import DbDeduplicator
from eventdedup.export import export_clusters, export_events
from eventdedup.ingest.loader import load_file
from eventdedup.matching import BatchResult, dedupe_batch, load_matching_config
from eventdedup.matching.pairmodel import MODEL_VERSION
from tests._support.pipeline import file_processor

CFG = load_matching_config(None)


def _ingest(engine: sa.Engine, files: list[Path], tmp_path: Path) -> None:
    processor = file_processor(engine, tmp_path)
    staging = tmp_path / "staging"
    staging.mkdir()
    for path in files:
        copy = staging / path.name
        shutil.copyfile(path, copy)
        outcome = processor.process(copy)
        assert outcome.outcome == "processed", outcome


def _clusters(engine: sa.Engine) -> set[frozenset[str]]:
    with engine.connect() as conn:
        return {frozenset(c) for c in export_clusters(conn)["clusters"]}


@pytest.fixture(scope="module")
def batch(corpus_files: list[Path]) -> BatchResult:
    events = [e for p in corpus_files for e in load_file(p.read_bytes(), p.name).events]
    return dedupe_batch(events, CFG)


@pytest.fixture(scope="module")
def batch_clusters(batch: BatchResult) -> set[frozenset[str]]:
    return {frozenset(c) for c in batch.clusters}


@pytest.mark.parametrize("order", ["reversed", "shuffled"])
def test_file_by_file_equals_batch(
    order: str,
    corpus_files: list[Path],
    tmp_path: Path,
    migrated_engine: sa.Engine,
    batch: BatchResult,
    batch_clusters: set[frozenset[str]],
) -> None:
    files = list(corpus_files)
    if order == "reversed":
        files.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(files)
    _ingest(migrated_engine, files, tmp_path)
    clusters = _clusters(migrated_engine)
    assert sum(len(c) for c in clusters) == 2000
    assert clusters == batch_clusters
    with migrated_engine.connect() as conn:
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM source_events e LEFT JOIN canonical_events c "
                "ON c.id = e.canonical_id WHERE c.id IS NULL"
            )
        ).scalar_one()
        assert orphans == 0, "every source event belongs to exactly one canonical"
        counts = conn.execute(
            sa.text(
                "SELECT count(*) FROM canonical_events c WHERE source_count <> "
                "(SELECT count(*) FROM source_events e WHERE e.canonical_id = c.id)"
            )
        ).scalar_one()
        assert counts == 0
        exported = export_events(conn)
        # P is stored where it can change the decision or the clustering; a no-match
        # it could not change stores -1 (decision.NOT_NEEDED)
        stored = conn.execute(
            sa.text(
                "SELECT DISTINCT score->>'model_version', "
                "(score->>'probability')::float >= 0 OR decision = 'no_match' "
                "FROM match_decisions"
            )
        ).all()
        decided = {
            tuple(r) for r in conn.execute(sa.text("SELECT a_id, b_id FROM match_decisions"))
        }
    # file by file, the store decides exactly the pairs the batch decides
    assert decided == {d.key for d in batch.decisions}
    assert len(exported["events"]) == len(clusters)
    assert [tuple(r) for r in stored] == [(MODEL_VERSION, True)], "every decision has P + model"


def test_a_files_records_are_cached_only_once_it_commits(
    corpus_files: list[Path],
    tmp_path: Path,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The next file reuses the parsed records of the last one, never those of a rollback."""
    from eventdedup.db import outbox

    dedup = DbDeduplicator(CFG)
    processor = file_processor(migrated_engine, tmp_path, dedup)
    first, second = (tmp_path / p.name for p in corpus_files[:2])
    shutil.copyfile(corpus_files[0], first)
    shutil.copyfile(corpus_files[1], second)
    first_ids = [e.id for e in load_file(first.read_bytes(), first.name).events]
    second_ids = [e.id for e in load_file(second.read_bytes(), second.name).events]

    real_append = outbox.append

    def failing_append(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the commit never happens")

    monkeypatch.setattr(outbox, "append", failing_append)
    with pytest.raises(RuntimeError):
        processor.process(first)
    assert all(dedup.records.get(i) is None for i in first_ids), "cached a rolled-back file"

    monkeypatch.setattr(outbox, "append", real_append)
    assert processor.process(first).outcome == "processed"
    assert all(dedup.records.get(i) is not None for i in first_ids)
    assert processor.process(second).outcome == "processed"
    assert all(dedup.records.get(i) is not None for i in second_ids)
