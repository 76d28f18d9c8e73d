"""Foundation: file ingestions, source events and their dates, the feed outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.create_table(
        "file_ingestions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("file_hash", sa.Text, nullable=False),
        sa.Column("source_code", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("events_accepted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("events_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("events_skipped", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", JSONB),
        sa.Column("rejected", JSONB),
        sa.Column("file_metadata", JSONB),
        sa.Column("replica", sa.Text),
        sa.Column("received_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("completed_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("duration_ms", sa.Integer),
        sa.Column("moved_to", sa.Text),
        sa.CheckConstraint("state IN ('completed', 'failed')", name="file_ingestions_state"),
    )
    op.create_index(
        "file_ingestions_completed_hash",
        "file_ingestions",
        ["file_hash"],
        unique=True,
        postgresql_where=sa.text("state = 'completed'"),
    )
    op.create_index("file_ingestions_completed_at", "file_ingestions", ["completed_at"])

    op.create_table(
        "source_events",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("file_id", sa.BigInteger, sa.ForeignKey("file_ingestions.id"), nullable=False),
        sa.Column("source_code", sa.Text, nullable=False),
        sa.Column("source_type", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("short_description", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("highlights", JSONB, nullable=False),
        sa.Column("location_name", sa.Text),
        sa.Column("location_city", sa.Text),
        sa.Column("location_printed_city", sa.Text),
        sa.Column("location_district", sa.Text),
        sa.Column("location_street", sa.Text),
        sa.Column("location_street_no", sa.Text),
        sa.Column("location_zipcode", sa.Text),
        sa.Column("geo_latitude", sa.Float),
        sa.Column("geo_longitude", sa.Float),
        sa.Column("geo_confidence", sa.Float),
        sa.Column("geo_country", sa.Text),
        sa.Column("categories", JSONB, nullable=False),
        sa.Column("is_family_event", sa.Boolean),
        sa.Column("is_child_focused", sa.Boolean),
        sa.Column("admission_free", sa.Boolean),
        sa.Column("registration_required", sa.Boolean),
        sa.Column("registration_contact", sa.Text),
        sa.Column("confidence_score", sa.Float),
        sa.Column("raw", JSONB, nullable=False),
        sa.Column("content_hash", sa.Text, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("source_events_file_id", "source_events", ["file_id"])

    op.create_table(
        "event_dates",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "event_id",
            sa.Text,
            sa.ForeignKey("source_events.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("start_time", sa.Time),
        sa.Column("end_time", sa.Time),
        sa.Column("end_date", sa.Date),
    )
    op.create_index("event_dates_event_id", "event_dates", ["event_id"])
    op.create_index("event_dates_date", "event_dates", ["date"])

    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("data", JSONB, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("event_dates")
    op.drop_table("source_events")
    op.drop_table("file_ingestions")
