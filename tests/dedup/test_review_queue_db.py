"""The stored review queue: the same questions as the pure queue, closed when files settle them."""

from __future__ import annotations

import random
from pathlib import Path

import sqlalchemy as sa

from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.matching.review import build_queue
from tests.dedup.test_incremental_db import _ingest

CFG = load_matching_config(None)


def test_stored_queue_is_the_pure_queue_and_settled_items_close(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    files = list(corpus_files)
    random.Random(3).shuffle(files)
    _ingest(migrated_engine, files, tmp_path)

    events = [e for p in corpus_files for e in load_file(p.read_bytes(), p.name).events]
    result = dedupe_batch(events, CFG)
    expected = build_queue(result.clusters, result.decisions, CFG)
    with migrated_engine.connect() as conn:
        stored = conn.execute(
            sa.text(
                "SELECT kind, a_id, b_id, benefit, data FROM review_items WHERE state = 'open' "
                "ORDER BY benefit DESC, id"
            )
        ).all()
        closed = conn.execute(
            sa.text(
                "SELECT id, data->>'settled_by' AS settled_by FROM review_items "
                "WHERE state = 'resolved'"
            )
        ).all()
        announced = conn.execute(
            sa.text("SELECT data FROM outbox WHERE type = 'review.resolved'")
        ).scalars()
        settled_messages = {m["review_id"]: m for m in announced}
    # one question per pair of clusters, the same ones a batch run asks
    assert {(r.kind, r.a_id, r.b_id) for r in stored} == {q.key for q in expected}
    assert 0 < len(stored) <= 15 * len(events) / 1000
    assert [r.benefit for r in stored] == sorted((q.benefit for q in expected), reverse=True)
    assert all(r.data["signals"] and 0 < r.data["probability"] < 1 for r in stored)
    # questions a later file made moot were closed, said so on the feed, and name the file
    assert closed, "no later file settled a question (the corpus does, in any order)"
    for item in closed:
        assert item.settled_by.startswith("file (")
        assert settled_messages[item.id]["settled_by"] == item.settled_by
