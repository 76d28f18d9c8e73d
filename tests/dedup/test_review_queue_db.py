"""The stored review queue: the same questions as the pure queue, closed when files settle them."""

from __future__ import annotations

import json
import random
from pathlib import Path

import sqlalchemy as sa

from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.matching.decision import MATCH
from eventdedup.matching.review import build_queue, merge_questions
from eventdedup.model import SourceEvent
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


def _late_third_cluster(
    events: list[SourceEvent],
) -> tuple[tuple[frozenset[str], frozenset[str]], frozenset[str]]:
    """A contested merge question of the batch queue, and the only third cluster that contests
    it, a component of its own (no match with any other listing): delivered last, it
    re-clusters only itself, and the question's clusters are its neighbours."""
    result = dedupe_batch(events, CFG)
    queued = {
        (frozenset(q.left), frozenset(q.right))
        for q in build_queue(result.clusters, result.decisions, CFG)
    }
    found = merge_questions(result.clusters, result.decisions, CFG)
    for ca, cb, _, contested in sorted(found, key=lambda f: (min(f[0]), min(f[1]))):
        if not contested or ((ca, cb) not in queued and (cb, ca) not in queued):
            continue
        others = [
            cy if cx in (ca, cb) else cx
            for cx, cy, _, _ in found
            if {cx, cy} != {ca, cb} and {cx, cy} & {ca, cb}
        ]
        for third in set(others) if len(set(others)) == 1 else ():  # contested by it alone
            if all(
                e.decision != MATCH or (e.a_id in third) == (e.b_id in third)
                for e in result.decisions
                if e.a_id in third or e.b_id in third
            ):
                return (ca, cb), third
    raise AssertionError("the dev sample has no contested question with a separate third cluster")


def test_stored_queue_follows_a_third_cluster_that_arrives_later(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    raw = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in corpus_files}
    events = [e for p in corpus_files for e in load_file(p.read_bytes(), p.name).events]
    (ca, cb), third = _late_third_cluster(events)
    # every listing but the third cluster's first, then the third cluster's, in their own files
    first, late = tmp_path / "first", tmp_path / "late"
    first.mkdir()
    late.mkdir()
    for name, doc in raw.items():
        keep = [e for e in doc["events"] if e["id"] not in third]
        held = [e for e in doc["events"] if e["id"] in third]
        (first / name).write_text(json.dumps({**doc, "events": keep}), encoding="utf-8")
        if held:
            later = name.replace(".json", "_late.json")
            (late / later).write_text(json.dumps({**doc, "events": held}), encoding="utf-8")
    for work in (tmp_path / "a", tmp_path / "b"):
        work.mkdir()
    _ingest(migrated_engine, sorted(first.iterdir()), tmp_path / "a")
    with migrated_engine.connect() as conn:
        before = {
            (r.a_id, r.b_id): r.data
            for r in conn.execute(
                sa.text(
                    "SELECT a_id, b_id, data FROM review_items "
                    "WHERE state = 'open' AND kind = 'merge'"
                )
            )
        }
    _ingest(migrated_engine, sorted(late.iterdir()), tmp_path / "b")

    result = dedupe_batch(events, CFG)
    expected = build_queue(result.clusters, result.decisions, CFG)
    with migrated_engine.connect() as conn:
        stored = conn.execute(
            sa.text("SELECT kind, a_id, b_id, benefit, data FROM review_items WHERE state = 'open'")
        ).all()
    by_key = {(r.kind, r.a_id, r.b_id): r for r in stored}
    assert set(by_key) == {q.key for q in expected}
    for q in expected:
        row = by_key[q.key]
        assert (row.benefit, row.data["probability"]) == (q.benefit, q.probability)
        assert row.data["signals"]["contested"] == q.contested
    # the question the late cluster contests: now contested in the stored queue, and it was
    # not before the late file (asked with another probability, or not at all)
    [q] = [q for q in expected if {frozenset(q.left), frozenset(q.right)} == {ca, cb}]
    assert by_key[q.key].data["signals"]["contested"] is True
    earlier = before.get((q.a_id, q.b_id))
    assert earlier is None or earlier["probability"] != q.probability
