"""Fewer index entries per event: two indexes no query uses.

``event_blocking_keys_event_id``: the blocking index is only ever looked up by
key (its primary key); no query selects or deletes its rows by event.
``event_dates_date``: dates are read by event (``event_dates_event_id``), never
by date.  Each made one entry per row written: 11.5 of the ~47 index entries
an ingested event cost (docs/performance.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("event_blocking_keys_event_id", table_name="event_blocking_keys")
    op.drop_index("event_dates_date", table_name="event_dates")


def downgrade() -> None:
    op.create_index("event_dates_date", "event_dates", ["date"])
    op.create_index("event_blocking_keys_event_id", "event_blocking_keys", ["event_id"])
