"""A batch opened ahead, while the batch before it commits, ends as if opened after it.

``FileProcessor.open_batch`` claims and records a batch's files and finds and scores
their candidates while the batch before is still uncommitted, taking that batch's
events from memory.  What it found is used only if, under its locks, nothing else
was stored since; otherwise it looks again.  These tests hold it to the clusters of
``dedupe_batch`` when something else *was* stored meanwhile, when the batch before
failed, and to the file-by-file rules for ids the batch before accepted.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

from eventdedup.db.dedup import DbDeduplicator
from eventdedup.export import export_clusters
from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.pipeline import FileOutcome, FileProcessor, ParsedFile
from tests._support.db import rows
from tests._support.pipeline import file_processor

CFG = load_matching_config(None)


def _parse(
    processor: FileProcessor, inbox: Path, files: list[tuple[str, bytes]]
) -> list[ParsedFile]:
    parsed = []
    for name, data in files:
        (inbox / name).write_bytes(data)
        parsed.append(processor.parse(inbox / name))
    return parsed


def _looked_ahead(engine: sa.Engine) -> dict[str, bool]:
    return {
        m.data["file"]: m.data["batch"]["looked_ahead"]
        for m in rows(engine, "SELECT data FROM outbox WHERE type = 'file.processed'")
        if "batch" in m.data
    }


def _assert_clusters_of_one_run(engine: sa.Engine, files: list[tuple[str, bytes]]) -> None:
    events = [e for name, data in files for e in load_file(data, name).events]
    reference = dedupe_batch(events, CFG)
    with engine.connect() as conn:
        clusters = {frozenset(c) for c in export_clusters(conn)["clusters"]}
        decided = {
            (r.a_id, r.b_id): r.decision
            for r in conn.execute(sa.text("SELECT a_id, b_id, decision FROM match_decisions"))
        }
        stored = conn.execute(sa.text("SELECT count(*) FROM source_events")).scalar_one()
    assert stored == len(events)
    assert decided == {d.key: d.decision for d in reference.decisions}
    assert clusters == {frozenset(c) for c in reference.clusters}


@pytest.fixture
def corpus(synthetic: ModuleType) -> list[tuple[str, bytes]]:
    return [(f.name, f.to_bytes()) for f in synthetic.take(synthetic.generate(3), 1600)]


def _rival(files: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """Another source's copy of a file's listings under other ids: candidates of them all."""
    name, data = files[0]
    doc = json.loads(data)
    for event in doc["events"]:
        event["id"] = "rival-" + event["id"]
    return "zzz_" + name, json.dumps(doc).encode()


def test_a_file_stored_meanwhile_makes_the_batch_look_again(
    corpus: list[tuple[str, bytes]], tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    processor = file_processor(migrated_engine, tmp_path, DbDeduplicator(CFG))
    other = file_processor(migrated_engine, tmp_path, DbDeduplicator(CFG))  # another replica
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first, second = corpus[:4], corpus[4:8]
    rival = _rival(second)

    a = _parse(processor, inbox, first)
    opened_a = processor.open_batch(a)
    b = _parse(processor, inbox, second)
    opened_b = processor.open_batch(b, opened_a)
    assert opened_a is not None and opened_b is not None
    outcomes = processor.commit_batch(a, opened_a)
    # stored while the second batch waits, with candidates among its events
    (inbox / rival[0]).write_bytes(rival[1])
    assert other.process(inbox / rival[0]).outcome == "processed"
    outcomes += processor.commit_batch(b, opened_b)

    assert [o.outcome for o in outcomes] == ["processed"] * 8
    looked = _looked_ahead(migrated_engine)
    assert [looked[n] for n, _ in first] == [True] * 4
    assert [looked[n] for n, _ in second] == [False] * 4  # looked again under its locks
    _assert_clusters_of_one_run(migrated_engine, [*first, *second, rival])


def test_when_the_batch_before_fails_the_next_one_starts_again(
    corpus: list[tuple[str, bytes]],
    tmp_path: Path,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dedup = DbDeduplicator(CFG)
    processor = file_processor(migrated_engine, tmp_path, dedup)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first, second = corpus[:4], corpus[4:8]
    a = _parse(processor, inbox, first)
    opened_a = processor.open_batch(a)
    b = _parse(processor, inbox, second)
    opened_b = processor.open_batch(b, opened_a)
    assert opened_a is not None and opened_b is not None

    real = DbDeduplicator.settle
    failed: list[int] = []

    def settle_failing_once(self: DbDeduplicator, *args: Any, **kwargs: Any) -> Any:
        if not failed:
            failed.append(1)
            raise RuntimeError("injected: the batch fails as a whole")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(DbDeduplicator, "settle", settle_failing_once)
    outcomes = processor.commit_batch(a, opened_a)  # then file by file
    assert failed and opened_a.seqs is None
    outcomes += processor.commit_batch(b, opened_b)

    assert [o.outcome for o in outcomes] == ["processed"] * 8
    looked = _looked_ahead(migrated_engine)
    assert all(n not in looked for n, _ in first)  # committed one by one
    assert [looked[n] for n, _ in second] == [False] * 4  # opened again, after them
    _assert_clusters_of_one_run(migrated_engine, [*first, *second])


def _event(i: int, title: str = "Lesung im Rathaus") -> dict[str, Any]:
    return {
        "id": f"ahead-{i}",
        "title": f"{title} {i}",
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00"}],
        "location": {"name": "Rathaus", "city": "Waldkirch"},
        "source_type": "terminliste",
    }


def test_ids_of_the_batch_before_count_as_stored(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    """An event the uncommitted batch before accepted is skipped when repeated unchanged
    and quarantined when repeated with other content, as file by file."""
    processor = file_processor(migrated_engine, tmp_path, DbDeduplicator(CFG))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    first = [
        ("rks_ahead_01.03.2026.json", json.dumps({"events": [_event(1), _event(2)]}).encode()),
        ("ets_ahead_01.03.2026.json", json.dumps({"events": [_event(3)]}).encode()),
    ]
    second = [
        (
            "bwb_ahead_01.03.2026.json",
            json.dumps({"events": [_event(2), _event(1, "Anders"), _event(4)]}).encode(),
        ),
        ("del_ahead_01.03.2026.json", json.dumps({"events": [_event(5)]}).encode()),
    ]
    a = _parse(processor, inbox, first)
    opened_a = processor.open_batch(a)
    b = _parse(processor, inbox, second)
    opened_b = processor.open_batch(b, opened_a)
    assert opened_a is not None and opened_b is not None
    outcomes: list[FileOutcome] = processor.commit_batch(a, opened_a)
    outcomes += processor.commit_batch(b, opened_b)
    # a settled batch lets go of the one before (else every batch would stay in memory)
    assert opened_b.after is None

    assert [
        (o.filename, o.outcome, o.events_accepted, o.events_skipped, o.events_rejected)
        for o in outcomes
    ] == [
        ("rks_ahead_01.03.2026.json", "processed", 2, 0, 0),
        ("ets_ahead_01.03.2026.json", "processed", 1, 0, 0),
        ("bwb_ahead_01.03.2026.json", "processed", 1, 1, 1),
        ("del_ahead_01.03.2026.json", "processed", 1, 0, 0),
    ]
    assert set(_looked_ahead(migrated_engine).values()) == {True}
    reason = (
        tmp_path / "dead_letters" / "bwb_ahead_01.03.2026.rejected.json.error.json"
    ).read_text()
    assert "'ahead-1' is already stored" in reason
    stored = {r.id for r in rows(migrated_engine, "SELECT id FROM source_events")}
    assert stored == {f"ahead-{i}" for i in range(1, 6)}
