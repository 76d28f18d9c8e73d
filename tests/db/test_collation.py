"""Event ids compare by code point in the database, as in Python, whatever its locale.

The matching core orders each pair's ids with Python's ``<`` and the decision and
constraint tables check ``a_id < b_id``. A database made with a language's locale
(``de_DE.UTF-8``, the default of many a German server) sorts ids otherwise: it weighs
letters and digits before punctuation, so ``pdf-…-10-0`` sorts before ``pdf-…-1-10``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.db.engine import create_engine
from eventdedup.db.migrate import migrate, upgrade_head
from tests._support.db import rows, scalar
from tests._support.pipeline import file_processor
from tests.conftest import scratch_database

#: every column that holds an event id or a blocking key
ID_COLUMNS = {
    ("source_events", "id"),
    ("event_dates", "event_id"),
    ("event_blocking_keys", "key"),
    ("event_blocking_keys", "event_id"),
    ("match_decisions", "a_id"),
    ("match_decisions", "b_id"),
    ("match_constraints", "a_id"),
    ("match_constraints", "b_id"),
    ("review_items", "a_id"),
    ("review_items", "b_id"),
}

GERMAN = "de_DE.UTF-8"


def _collations(engine: sa.Engine) -> dict[tuple[str, str], str | None]:
    found = {
        (r.table_name, r.column_name): r.collation_name
        for r in rows(
            engine,
            "SELECT table_name, column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = 'public'",
        )
    }
    return {c: found[c] for c in ID_COLUMNS}


def test_id_columns_collate_by_code_point(migrated_engine: sa.Engine) -> None:
    # (alembic's schema comparison in test_migrations does not look at collations)
    assert _collations(migrated_engine) == dict.fromkeys(ID_COLUMNS, "C")
    migrate(migrated_engine, "downgrade", "0008")
    assert _collations(migrated_engine) == dict.fromkeys(ID_COLUMNS)  # the database's
    upgrade_head(migrated_engine)
    assert _collations(migrated_engine) == dict.fromkeys(ID_COLUMNS, "C")


@pytest.fixture
def german_engine(pg_admin_url: str) -> Iterator[sa.Engine]:
    """An empty database whose default collation is German (glibc's ``de_DE.UTF-8``)."""
    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(pg_admin_url, locale=GERMAN))
        except sa.exc.DBAPIError as exc:
            if "locale name" not in str(exc):
                raise
            # .ci/run generates it; a plain Debian has only C and C.UTF-8
            pytest.skip(
                f"the PostgreSQL server's machine has no {GERMAN} locale: apt-get install -y "
                f"locales && localedef -i de_DE -f UTF-8 {GERMAN} (or run .ci/run)"
            )
        engine = create_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _drop(
    folder: Path, name: str, ids: tuple[str, str], title: str = "Konzert des Musikvereins"
) -> Path:
    """A file listing one event twice, under the two ``ids``."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    events = [_listing(ids[0], title, "terminliste"), _listing(ids[1], title, "artikel")]
    path.write_text(json.dumps({"events": events}))
    return path


def _listing(event_id: str, title: str, source_type: str) -> dict[str, object]:
    return {
        "id": event_id,
        "title": title,
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00"}],
        "location": {"name": "Kurhaus", "city": "Waldkirch"},
        "source_type": source_type,
    }


# in code-point order "pdf-x-1-10" < "pdf-x-10-0" ("-" < "0"); in German the punctuation
# weighs last, and "pdfx110" > "pdfx100"
APART = ("pdf-462607e3-1-10", "pdf-462607e3-10-0")


def test_ids_the_locale_orders_otherwise_are_matched(
    tmp_path: Path, german_engine: sa.Engine
) -> None:
    upgrade_head(german_engine)
    first, second = APART
    assert first < second
    with german_engine.connect() as conn:
        assert conn.execute(
            sa.text("SELECT CAST(:a AS text) > :b"), {"a": first, "b": second}
        ).scalar_one()

    path = _drop(tmp_path / "inbox", "elt_01.03.2026.json", APART)
    outcome = file_processor(german_engine, tmp_path).process(path)

    assert (outcome.outcome, outcome.events_accepted) == ("processed", 2)
    decided = rows(german_engine, "SELECT a_id, b_id, decision FROM match_decisions")
    assert [tuple(r) for r in decided] == [(first, second, "match")]
    assert scalar(german_engine, "SELECT count(DISTINCT canonical_id) FROM source_events") == 1


def test_upgrading_a_german_database_keeps_its_pairs_and_takes_the_file_it_refused(
    tmp_path: Path, german_engine: sa.Engine
) -> None:
    migrate(german_engine, "upgrade", "0008")
    stored = file_processor(german_engine, tmp_path).process(
        _drop(
            tmp_path / "inbox",
            "elt_01.03.2026.json",
            ("pdf-aa-1-1", "pdf-aa-1-2"),
            "Frühlingsbasar der Landfrauen",
        )
    )
    assert stored.outcome == "processed"
    refused = _drop(tmp_path / "inbox", "elt_02.03.2026.json", APART)
    outcome = file_processor(german_engine, tmp_path).process(refused)
    assert outcome.outcome == "failed"  # dead-lettered with the database's reason
    sidecar = json.loads((tmp_path / "dead_letters" / f"{refused.name}.error.json").read_text())
    assert '"match_decisions_ordered"' in sidecar["reason"]

    upgrade_head(german_engine)

    (tmp_path / "dead_letters" / refused.name).rename(refused)  # dropped back
    assert file_processor(german_engine, tmp_path).process(refused).outcome == "processed"
    matched = rows(
        german_engine,
        "SELECT a_id, b_id FROM match_decisions WHERE decision = 'match' ORDER BY a_id",
    )
    assert [tuple(r) for r in matched] == [APART, ("pdf-aa-1-1", "pdf-aa-1-2")]
    assert scalar(german_engine, "SELECT count(DISTINCT canonical_id) FROM source_events") == 2
