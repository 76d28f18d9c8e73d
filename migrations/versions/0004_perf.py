"""Performance: the blocking index stores one row per key *prefix*, with a slot bit mask.

Blocking keys end in a start-time slot (``dc|2026-02-14|waldkirch|9``); an
event without a start time has a key for every slot of the day, so an event
made ~44 rows on average (thousands for a month-long exhibition) and a file
wrote and looked up ~9,000.  A row now holds the key without its slot
(``key``) and the slots as bits (``slots``: bit *s*+1 for slot *s*, bit 0 for
a key without slot).  Two events share a key exactly when they share a prefix
with overlapping bits, so lookups stay exact with ~5× fewer rows and probes.
``slots`` has no default: a writer must encode, a plain key insert fails.

The primary key carries ``slots`` (INCLUDE) so the lookup is index-only, and
the planner is told the real share of distinct keys: ``ANALYZE`` samples
estimate a few hundred where about every other row is a new one, and with that
estimate a file's lookup looks like a scan of the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# key = prefix || '|' || slot, slot a plain number 0..61 (the encoding in eventdedup.db.dedup)
_SPLIT = r"regexp_match(key, '^(.+)\|(0|[1-9][0-9]?)$')"


def upgrade() -> None:
    op.add_column(
        "event_blocking_keys", sa.Column("slots", sa.BigInteger, nullable=False, server_default="1")
    )
    op.execute(f"""
        CREATE TEMP TABLE blocking_rows ON COMMIT DROP AS
        SELECT CASE WHEN slot IS NULL THEN key ELSE prefix END AS key, event_id,
               bit_or(CASE WHEN slot IS NULL THEN 1::bigint
                           ELSE 1::bigint << (slot + 1) END) AS slots
        FROM (SELECT key, event_id, m[1] AS prefix,
                     CASE WHEN m IS NOT NULL AND m[2]::int < 62 THEN m[2]::int END AS slot
              FROM (SELECT key, event_id, {_SPLIT} AS m FROM event_blocking_keys) s) t
        GROUP BY 1, 2""")
    op.execute("TRUNCATE event_blocking_keys")
    op.execute(
        "INSERT INTO event_blocking_keys (key, event_id, slots) "
        "SELECT key, event_id, slots FROM blocking_rows"
    )
    op.alter_column("event_blocking_keys", "slots", server_default=None)
    op.execute(
        "ALTER TABLE event_blocking_keys DROP CONSTRAINT event_blocking_keys_pkey, "
        "ADD CONSTRAINT event_blocking_keys_pkey PRIMARY KEY (key, event_id) "
        "INCLUDE (slots)"
    )
    op.execute("ALTER TABLE event_blocking_keys ALTER COLUMN key SET (n_distinct = -0.3)")
    op.execute("ANALYZE event_blocking_keys")


def downgrade() -> None:
    op.execute("ALTER TABLE event_blocking_keys ALTER COLUMN key RESET (n_distinct)")
    op.execute("""
        CREATE TEMP TABLE blocking_rows ON COMMIT DROP AS
        SELECT CASE WHEN b = 0 THEN key ELSE key || '|' || (b - 1) END AS key, event_id
        FROM event_blocking_keys, generate_series(0, 62) AS b
        WHERE slots & (1::bigint << b) <> 0""")
    op.execute("TRUNCATE event_blocking_keys")
    op.execute(
        "ALTER TABLE event_blocking_keys DROP CONSTRAINT event_blocking_keys_pkey, "
        "ADD CONSTRAINT event_blocking_keys_pkey PRIMARY KEY (key, event_id)"
    )
    op.drop_column("event_blocking_keys", "slots")
    op.execute(
        "INSERT INTO event_blocking_keys (key, event_id) "
        "SELECT DISTINCT key, event_id FROM blocking_rows"
    )
