"""Cheaper writes per event: JSON kept as written, no per-row foreign-key checks, one index less.

* ``source_events.record``, ``source_events.raw`` and ``match_decisions.score``
  become ``json``: they are written once, never queried with ``jsonb``
  operators, and read back only whole (``record`` and ``score`` as text or a
  Python value, ``raw`` not at all).  ``jsonb`` parsed each value into its
  binary form on every ``COPY`` and turned it back into text on every read;
  ``json`` only checks the text.
* ``record`` and ``raw`` are stored out of line uncompressed (``STORAGE
  EXTERNAL``): an event row is ~3.3 KB, so PostgreSQL compressed its largest
  values with pglz on every insert (no lz4 in every build).  A third more
  space for ``source_events`` (36 against 24 MB per 10,000 events), for about
  half of the ``COPY``'s CPU.
* The foreign keys ``source_events.file_id`` -> ``file_ingestions`` and
  ``event_dates.event_id`` -> ``source_events`` go: each was a trigger that
  looked up and share-locked the parent row for every row loaded (two per
  event).  Both are written by one function in the transaction that writes the
  parent, and neither parent is ever deleted (as for the blocking index and the
  decisions, migration 0002).
* ``source_events_file_id``: no query looks events up by file.
* ``canonical_events_last_date``: the one query on ``last_date`` (the admin search's
  lower date bound) compares ``coalesce(last_date, first_date)``, which an index on
  ``last_date`` cannot serve; every canonical written made an entry in it.

Figures: docs/performance.md, "The commit stage's writes".

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_JSON_COLUMNS = (
    ("source_events", "record"),
    ("source_events", "raw"),
    ("match_decisions", "score"),
)


def upgrade() -> None:
    for table, column in _JSON_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE json USING {column}::json")
    for column in ("record", "raw"):  # for rows written from now on
        op.execute(f"ALTER TABLE source_events ALTER COLUMN {column} SET STORAGE EXTERNAL")
    op.drop_constraint("source_events_file_id_fkey", "source_events", type_="foreignkey")
    op.drop_constraint("event_dates_event_id_fkey", "event_dates", type_="foreignkey")
    op.drop_index("source_events_file_id", table_name="source_events")
    op.drop_index("canonical_events_last_date", table_name="canonical_events")


def downgrade() -> None:
    op.create_index("canonical_events_last_date", "canonical_events", ["last_date"])
    op.create_index("source_events_file_id", "source_events", ["file_id"])
    op.create_foreign_key(
        "event_dates_event_id_fkey",
        "event_dates",
        "source_events",
        ["event_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "source_events_file_id_fkey", "source_events", "file_ingestions", ["file_id"], ["id"]
    )
    for column in ("record", "raw"):
        op.execute(f"ALTER TABLE source_events ALTER COLUMN {column} SET STORAGE EXTENDED")
    for table, column in _JSON_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE jsonb USING {column}::jsonb")
