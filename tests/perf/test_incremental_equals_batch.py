"""File by file through the database ends where one batch run ends, on a generated corpus.

The DB path pairs a new event with stored ones through the blocking index in
the database instead of recomputing the stored events' keys; these tests hold
that to the pure core: the same candidate pairs (hence the same decisions) and
the same clusters as ``dedupe_batch`` over all events at once.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from types import ModuleType

import pytest
import sqlalchemy as sa

from eventdedup.db.ahead import RecentRecords
from eventdedup.db.dedup import DbDeduplicator, _candidate_pairs, index_entries
from eventdedup.export import export_clusters
from eventdedup.ingest.loader import load_file
from eventdedup.matching import (
    blocking_keys,
    candidate_pairs,
    dedupe_batch,
    load_matching_config,
    prepare_event,
    score_pair,
)
from eventdedup.pipeline import OpenBatch, ParsedFile, parse_file
from tests._support.pipeline import file_processor

CFG = load_matching_config(None)
EVENTS = 3000


def test_pairs_from_the_index_equal_the_core_candidate_pairs(synthetic: ModuleType) -> None:
    files = list(synthetic.take(synthetic.generate(11), 1200))
    records = [prepare_event(e, CFG) for f in files for e in load_file(f.to_bytes(), f.name).events]
    stored, new = records[:1000], records[1000:]
    keys = {r.id: blocking_keys(r, CFG) for r in new}
    index: dict[str, list[str]] = {}
    for r in stored:
        for k in blocking_keys(r, CFG):
            index.setdefault(k, []).append(r.id)
    # what the database join returns: (new id, stored id) sharing a key, without repeats
    stored_pairs = sorted({(i, s) for i, ks in keys.items() for k in ks for s in index.get(k, ())})
    entries = {i: index_entries(ks) for i, ks in keys.items()}
    ours = _candidate_pairs(entries, stored_pairs, {r.id for r in stored})
    assert ours == candidate_pairs(new, stored, CFG)
    assert len(ours) > 200


@pytest.fixture(scope="module")
def corpus(synthetic: ModuleType) -> list[tuple[str, bytes]]:
    return [(f.name, f.to_bytes()) for f in synthetic.take(synthetic.generate(7), EVENTS)]


@pytest.mark.parametrize("order", ["forward", "reversed"])
@pytest.mark.parametrize(
    "path", ["file_by_file", "batches", "batches_scored_ahead", "batches_opened_ahead"]
)
def test_file_by_file_and_batches_equal_batch_on_a_generated_corpus(
    corpus: list[tuple[str, bytes]],
    tmp_path: Path,
    migrated_engine: sa.Engine,
    path: str,
    order: str,
) -> None:
    """Either order of the files, one by one or in batches: the same decisions and clusters.

    ``batches_scored_ahead`` parses as a parse worker does, scoring each file's pairs
    ahead with the records of the files it parsed before (``db/ahead.py``);
    ``batches_opened_ahead`` opens each batch (claims, candidates, scores) before the
    batch before it commits, as the processor does with a backlog.
    """
    dedup = DbDeduplicator(CFG, record_cache=500)
    processor = file_processor(migrated_engine, tmp_path, dedup)
    recent = RecentRecords()
    ahead = [0, 0]  # candidate pairs, of them scored ahead
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    files = corpus if order == "forward" else corpus[::-1]
    outcomes = []
    if path == "file_by_file":
        for name, data in files:
            (inbox / name).write_bytes(data)
            outcomes.append(processor.process(inbox / name))
    elif path == "batches_opened_ahead":
        # open batch N+1 while N is uncommitted, then commit N: N+1 sees N only in memory
        before: tuple[list[ParsedFile], OpenBatch | None] | None = None
        for start in range(0, len(files), 4):
            parsed = []
            for name, data in files[start : start + 4]:
                (inbox / name).write_bytes(data)
                parsed.append(processor.parse(inbox / name))
            opened = processor.open_batch(parsed, before[1] if before else None)
            assert opened is not None and opened.matching.found is not None
            if before is not None:
                outcomes.extend(processor.commit_batch(*before))
            before = (parsed, opened)
        assert before is not None
        outcomes.extend(processor.commit_batch(*before))
    else:  # batches of 4 files (the last one shorter)
        for start in range(0, len(files), 4):
            parsed = []
            for name, data in files[start : start + 4]:
                (inbox / name).write_bytes(data)
                if path == "batches":
                    parsed.append(processor.parse(inbox / name))
                else:
                    prepare = functools.partial(dedup.preparer(), recent=recent)
                    parsed.append(parse_file(inbox / name, 10**8, 10**5, prepare))
            outcomes.extend(processor.commit_batch(parsed))
            ahead = [ahead[0] + dedup.scored[0], ahead[1] + dedup.scored[1]]
    for (name, data), outcome in zip(files, outcomes, strict=True):
        assert outcome.outcome == "processed", outcome
        assert outcome.filename == name
        assert outcome.events_accepted == len(load_file(data, name).events)
    assert sorted(os.listdir(tmp_path / "archive")) == sorted(name for name, _ in files)

    events = [e for name, data in corpus for e in load_file(data, name).events]
    batch = dedupe_batch(events, CFG)
    with migrated_engine.connect() as conn:
        clusters = {frozenset(c) for c in export_clusters(conn)["clusters"]}
        decided = {
            (r.a_id, r.b_id): r.decision
            for r in conn.execute(sa.text("SELECT a_id, b_id, decision FROM match_decisions"))
        }
        orphans = conn.execute(
            sa.text(
                "SELECT count(*) FROM source_events e LEFT JOIN canonical_events c "
                "ON c.id = e.canonical_id WHERE c.id IS NULL"
            )
        ).scalar_one()
        per_file = dict(
            conn.execute(sa.text("SELECT filename, events_accepted FROM file_ingestions")).all()
        )
        processed = conn.execute(
            sa.text("SELECT count(*) FROM outbox WHERE type = 'file.processed'")
        ).scalar_one()
    assert len(events) == EVENTS
    assert decided == {d.key: d.decision for d in batch.decisions}
    assert clusters == {frozenset(c) for c in batch.clusters}
    assert orphans == 0
    assert per_file == {name: len(load_file(data, name).events) for name, data in corpus}
    assert processed == len(corpus)
    if path == "batches_scored_ahead":  # most pairs were scored ahead, the rest here
        assert ahead[0] > ahead[1] > ahead[0] // 2, ahead
    elif path == "batches":
        assert ahead[1] == 0
    if path == "batches_opened_ahead":  # every batch used what it found ahead
        with migrated_engine.connect() as conn:
            looked = conn.execute(
                sa.text(
                    "SELECT DISTINCT data->'batch'->>'looked_ahead' FROM outbox "
                    "WHERE type = 'file.processed'"
                )
            ).scalars()
            assert set(looked) == {"true"}


def test_a_score_made_ahead_with_another_record_is_not_used(
    synthetic: ModuleType, tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    """The worker scored a file against a version of its partners that was never stored
    (parsed, then replaced by other content under the same ids): the commit stage scores
    those pairs again with the stored records."""
    dedup = DbDeduplicator(CFG)
    processor = file_processor(migrated_engine, tmp_path, dedup)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first, second = list(synthetic.take(synthetic.generate(7), 400))[:2]
    recent = RecentRecords()
    prepare = functools.partial(dedup.preparer(), recent=recent)
    (inbox / first.name).write_bytes(first.to_bytes())
    parse_file(inbox / first.name, 10**8, 10**5, prepare)  # parsed ahead, never committed
    # the first file's content as stored: other titles under the same ids
    changed = json.loads(first.to_bytes())
    for event in changed["events"]:
        event["title"] = "Ganz anders " + event["title"][::-1]
    (inbox / first.name).write_text(json.dumps(changed))
    assert processor.process(inbox / first.name).outcome == "processed"
    (inbox / second.name).write_bytes(second.to_bytes())
    parsed = parse_file(inbox / second.name, 10**8, 10**5, prepare)
    assert parsed.prepared is not None
    first_ids = {e["id"] for e in changed["events"]}
    stale = {pair: made for pair, made in parsed.prepared.ahead.items() if first_ids & set(pair)}
    assert stale, "the worker scored the second file against the first"
    assert processor.commit(parsed).outcome == "processed"

    stored = {
        e.id: prepare_event(e, CFG)
        for e in load_file(json.dumps(changed).encode(), first.name).events
    }
    new = {e.id: prepare_event(e, CFG) for e in load_file(second.to_bytes(), second.name).events}
    records = stored | new
    with migrated_engine.connect() as conn:
        rows = {
            (r.a_id, r.b_id): (r.decision, r.combined)
            for r in conn.execute(
                sa.text("SELECT a_id, b_id, decision, combined FROM match_decisions")
            )
        }
    differs = 0
    for (a, b), (_, _, ahead, _) in stale.items():
        if (a, b) not in rows:
            continue  # no longer a candidate pair with the stored content
        right = score_pair(records[a], records[b], CFG)
        assert rows[(a, b)] == (right.decision, right.combined)
        differs += (ahead.decision, ahead.combined) != (right.decision, right.combined)
    assert differs, "the stale scores would have changed a decision"
