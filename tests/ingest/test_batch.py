"""A batch of files in one transaction decides each file as file by file would.

Inside a batch, a file sees the files before it (their events are not in the
table until matching has run): an event repeated unchanged is skipped, one
repeated with other content is quarantined, the same bytes under another name
are a duplicate, and a file that cannot be read fails alone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import eventdedup.db.events
from eventdedup.db.migrate import upgrade_head
from eventdedup.pipeline import FileOutcome, FileProcessor
from tests._support.db import rows, scalar
from tests._support.pipeline import file_processor


def _event(i: int, title: str = "Lesung im Rathaus") -> dict[str, Any]:
    return {
        "id": f"batch-{i}",
        "title": f"{title} {i}",
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00"}],
        "location": {"name": "Rathaus", "city": "Waldkirch"},
        "source_type": "terminliste",
    }


def _files() -> list[tuple[str, bytes]]:
    first = {"events": [_event(1), _event(2)]}
    second = {"events": [copy.deepcopy(_event(2)), _event(3), _event(1, "Anders")]}
    data = json.dumps(first).encode()
    return [
        ("rks_batch_01.03.2026.json", data),
        ("ets_batch_01.03.2026.json", json.dumps(second).encode()),
        ("bwb_broken_01.03.2026.json", b'{"events": [{"id": '),
        ("del_copy_01.03.2026.json", data),
    ]


def _summary(outcomes: list[FileOutcome]) -> list[tuple[str, str, int, int, int]]:
    return [
        (o.filename, o.outcome, o.events_accepted, o.events_skipped, o.events_rejected)
        for o in outcomes
    ]


def _state(engine: sa.Engine) -> Any:
    return (
        sorted(
            (r.filename, r.state, r.events_accepted)
            for r in rows(engine, "SELECT * FROM file_ingestions")
        ),
        sorted((r.id, r.title) for r in rows(engine, "SELECT id, title FROM source_events")),
        scalar(engine, "SELECT count(*) FROM source_events WHERE canonical_id IS NULL"),
    )


def _drop(processor: FileProcessor, inbox: Path) -> list[Path]:
    inbox.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in _files():
        (inbox / name).write_bytes(data)
        paths.append(inbox / name)
    return paths


def test_a_batch_decides_each_file_as_file_by_file_would(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    one = file_processor(migrated_engine, tmp_path / "one")
    expected = [one.process(p) for p in _drop(one, tmp_path / "one" / "inbox")]
    reference = _state(migrated_engine)
    with migrated_engine.begin() as conn:  # start over, then the same files as one batch
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_head(migrated_engine)

    batched = file_processor(migrated_engine, tmp_path / "batch")
    paths = _drop(batched, tmp_path / "batch" / "inbox")
    outcomes = batched.commit_batch([batched.parse(p) for p in paths])

    assert (
        _summary(outcomes)
        == _summary(expected)
        == [
            ("rks_batch_01.03.2026.json", "processed", 2, 0, 0),
            ("ets_batch_01.03.2026.json", "processed", 1, 1, 1),
            ("bwb_broken_01.03.2026.json", "failed", 0, 0, 0),
            ("del_copy_01.03.2026.json", "duplicate", 0, 0, 0),
        ]
    )
    assert _state(migrated_engine) == reference
    assert sorted(p.name for p in (tmp_path / "batch" / "archive").iterdir()) == sorted(
        n for n, _ in _files() if "broken" not in n
    )
    dead = sorted(p.name for p in (tmp_path / "batch" / "dead_letters").iterdir())
    assert "bwb_broken_01.03.2026.json" in dead
    assert "ets_batch_01.03.2026.rejected.json" in dead


def test_a_batch_that_fails_in_its_transaction_is_committed_file_by_file(
    tmp_path: Path, migrated_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the batch cannot store must not take the others with it."""
    processor = file_processor(migrated_engine, tmp_path)
    paths = _drop(processor, tmp_path / "inbox")
    parsed = [processor.parse(p) for p in paths]
    real = eventdedup.db.events.insert_event_groups

    def insert_event_groups(conn: Any, groups: Any, matched: Any = None) -> int:
        if len(groups) > 1:  # only the batch's write fails
            raise ValueError("cannot store this batch")
        return real(conn, groups, matched)

    monkeypatch.setattr(eventdedup.db.events, "insert_event_groups", insert_event_groups)
    outcomes = processor.commit_batch(parsed)
    assert [o.outcome for o in outcomes] == ["processed", "processed", "failed", "duplicate"]
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == 3
    states = rows(migrated_engine, "SELECT filename, state FROM file_ingestions")
    assert sorted((r.filename, r.state) for r in states) == [
        ("bwb_broken_01.03.2026.json", "failed"),
        ("ets_batch_01.03.2026.json", "completed"),
        ("rks_batch_01.03.2026.json", "completed"),
    ]


def test_a_file_offered_twice_in_one_batch_is_recorded_once(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    """The watcher may offer a file twice; a batch parses both offers before either is
    committed. A good file's second offer finds it archived; a broken one's
    finds the first offer's failure, dead-lettered, and the file gone."""
    processor = file_processor(migrated_engine, tmp_path)
    paths = _drop(processor, tmp_path / "inbox")
    broken, good = paths[2], paths[0]
    parsed = [processor.parse(p) for p in (good, broken, good, broken)]
    outcomes = processor.commit_batch(parsed)
    assert [o.outcome for o in outcomes] == ["processed", "failed", "archived", "vanished"]
    states = rows(migrated_engine, "SELECT filename, state FROM file_ingestions")
    assert sorted((r.filename, r.state) for r in states) == [
        ("bwb_broken_01.03.2026.json", "failed"),
        ("rks_batch_01.03.2026.json", "completed"),
    ]
    dead = sorted(p.name for p in (tmp_path / "dead_letters").iterdir())
    assert dead == ["bwb_broken_01.03.2026.json", "bwb_broken_01.03.2026.json.error.json"]
