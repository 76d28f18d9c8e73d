"""A file whose content the database refuses fails alone; a refusal that a retry cures does not.

The database refuses a write for a constraint or a value it cannot take
(``DB_REFUSED``). That is the file's content unless another transaction's commit
caused it (a race between replicas), so a file is tried once more, then
dead-lettered with the database's reason; in a batch, the other files are stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import eventdedup.db.events
from tests._support.db import rows, scalar
from tests._support.pipeline import file_processor


def _file(inbox: Path, name: str, title: str) -> Path:
    inbox.mkdir(parents=True, exist_ok=True)
    event = {
        "id": f"{name[:3]}-{title[:6]}",
        "title": title,
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00"}],
        "location": {"name": "Rathaus", "city": "Waldkirch"},
        "source_type": "terminliste",
    }
    path = inbox / name
    path.write_text(json.dumps({"events": [event]}))
    return path


def _refuse(engine: sa.Engine, title: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"ALTER TABLE source_events ADD CONSTRAINT test_refused CHECK (title <> '{title}')"
            )
        )


def test_a_refused_file_is_dead_lettered_with_the_database_reason(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    _refuse(migrated_engine, "Abgelehnt")
    processor = file_processor(migrated_engine, tmp_path)
    path = _file(tmp_path / "inbox", "rks_refused_01.03.2026.json", "Abgelehnt")

    outcome = processor.process(path)

    assert outcome.outcome == "failed"
    sidecar = json.loads((tmp_path / "dead_letters" / f"{path.name}.error.json").read_text())
    assert sidecar["reason"] == (
        'the database refused to store it: new row for relation "source_events" '
        'violates check constraint "test_refused"'
    )
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == 0
    failed = rows(migrated_engine, "SELECT type, data FROM outbox WHERE type = 'file.failed'")
    assert [r.data["file"] for r in failed] == [path.name]


def test_in_a_batch_only_the_refused_file_fails(tmp_path: Path, migrated_engine: sa.Engine) -> None:
    _refuse(migrated_engine, "Abgelehnt")
    processor = file_processor(migrated_engine, tmp_path)
    inbox = tmp_path / "inbox"
    paths = [
        _file(inbox, "rks_first_01.03.2026.json", "Lesung im Rathaus"),
        _file(inbox, "ets_refused_01.03.2026.json", "Abgelehnt"),
        _file(inbox, "bwb_third_01.03.2026.json", "Konzert im Rathaus"),
    ]

    outcomes = processor.commit_batch([processor.parse(p) for p in paths])

    assert [o.outcome for o in outcomes] == ["processed", "failed", "processed"]
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
        "bwb_third_01.03.2026.json",
        "rks_first_01.03.2026.json",
    ]
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == 2


def test_a_refusal_that_a_second_try_cures_stores_the_file(
    tmp_path: Path, migrated_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As when another replica committed a conflicting row meanwhile."""
    real = eventdedup.db.events.insert_event_groups
    calls = []

    def insert_event_groups(conn: Any, groups: Any, matched: Any = None) -> int:
        calls.append(len(groups))
        if len(calls) == 1:
            raise psycopg.errors.UniqueViolation("duplicate key value violates unique constraint")
        return real(conn, groups, matched)

    monkeypatch.setattr(eventdedup.db.events, "insert_event_groups", insert_event_groups)
    processor = file_processor(migrated_engine, tmp_path)
    path = _file(tmp_path / "inbox", "rks_race_01.03.2026.json", "Lesung im Rathaus")

    assert processor.process(path).outcome == "processed"
    assert calls == [1, 1]
    states = rows(migrated_engine, "SELECT filename, state FROM file_ingestions")
    assert [tuple(r) for r in states] == [(path.name, "completed")]
    assert not (tmp_path / "dead_letters").exists() or not any(
        (tmp_path / "dead_letters").iterdir()
    )
