"""Migrations: upgrade an empty database, upgrade again, and match the code's schema."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eventdedup.db.migrate import current_revision, head_revision, migrate, upgrade_head
from eventdedup.db.tables import metadata


def test_upgrade_empty_database_reaches_head(engine: sa.Engine) -> None:
    assert current_revision(engine) is None
    assert upgrade_head(engine) == head_revision()
    tables = set(sa.inspect(engine).get_table_names())
    assert {"file_ingestions", "source_events", "event_dates", "outbox"} <= tables


def test_upgrade_is_idempotent_on_a_migrated_database(engine: sa.Engine) -> None:
    upgrade_head(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO outbox (seq, type, data) VALUES (1, 'x', '{}')"))
    assert upgrade_head(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one() == 1


def test_migrated_schema_matches_table_definitions(migrated_engine: sa.Engine) -> None:
    with migrated_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_0007_closes_duplicate_open_review_items_keeping_the_oldest(engine: sa.Engine) -> None:
    migrate(engine, "upgrade", "0006")
    with engine.begin() as conn:
        for state in ("open", "open", "resolved", "open"):
            conn.execute(
                sa.text(
                    "INSERT INTO review_items (kind, a_id, b_id, uncertainty, reason, data, state) "
                    "VALUES ('merge', 'a', 'b', 0.5, 'merge?', '{}', :s)"
                ),
                {"s": state},
            )
    upgrade_head(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, state FROM review_items ORDER BY id")).all()
    assert [r.state for r in rows] == ["open", "resolved", "resolved", "resolved"]


def test_0008_keeps_the_json_values_and_drops_the_per_row_foreign_keys(engine: sa.Engine) -> None:
    migrate(engine, "upgrade", "0007")
    record = {"id": "e1", "title": "Fasnet", "dates": [{"date": "2026-02-12"}], "x": 1.5}
    raw = {"id": "e1", "title": "Fasnet ümzug\\n", "nested": {"a": [1, None, True]}}
    score = {"date": 1.0, "reason": "match: combined 0.91", "tier": "deterministic"}
    with engine.begin() as conn:
        file_id = conn.execute(
            sa.text(
                "INSERT INTO file_ingestions (filename, file_hash, source_code, state, size_bytes) "
                "VALUES ('f.json', 'h', 'abz', 'completed', 1) RETURNING id"
            )
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO source_events (id, file_id, source_code, source_type, title, "
                "highlights, categories, raw, content_hash, record) VALUES ('e1', :f, 'abz', "
                "'print', 'Fasnet', '[]', '[]', CAST(:raw AS jsonb), 'c', CAST(:rec AS jsonb))"
            ),
            {"f": file_id, "raw": json.dumps(raw), "rec": json.dumps(record)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO match_decisions (a_id, b_id, decision, combined, score) "
                "VALUES ('e1', 'e2', 'match', 0.91, CAST(:s AS jsonb))"
            ),
            {"s": json.dumps(score)},
        )
    upgrade_head(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT raw, record FROM source_events")).one()
        assert (row.raw, row.record) == (raw, record)
        assert conn.execute(sa.text("SELECT score FROM match_decisions")).scalar_one() == score
        types = dict(
            conn.execute(
                sa.text(
                    "SELECT table_name || '.' || column_name, data_type "
                    "FROM information_schema.columns "
                    "WHERE column_name IN ('raw', 'record', 'score')"
                )
            ).all()
        )
        assert types == {
            "source_events.raw": "json",
            "source_events.record": "json",
            "match_decisions.score": "json",
        }
        storage = dict(
            conn.execute(
                sa.text(
                    "SELECT attname, attstorage FROM pg_attribute "
                    "WHERE attrelid = 'source_events'::regclass AND attname IN ('raw', 'record')"
                )
            ).all()
        )
        assert storage == {"raw": "e", "record": "e"}, "stored uncompressed, out of line"
        # an event of a file without a row, a date of an event without a row: no check per row
        conn.execute(
            sa.text(
                "INSERT INTO event_dates (event_id, position, date) "
                "VALUES ('gone', 0, '2026-02-12')"
            )
        )
    migrate(engine, "downgrade", "0007")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT raw, record FROM source_events")).one()
        assert (row.raw, row.record) == (raw, record)
        kinds = conn.execute(
            sa.text("SELECT pg_typeof(raw)::text, pg_typeof(record)::text FROM source_events")
        ).one()
        assert tuple(kinds) == ("jsonb", "jsonb")
    assert upgrade_head(engine) == head_revision()
