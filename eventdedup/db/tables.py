"""SQLAlchemy Core schema: the tables the queries are written against.

Alembic migrations in ``migrations/versions`` create exactly these tables; a
test compares the migrated database with this metadata so the two never drift.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    Time,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

metadata = MetaData()

TZ = TIMESTAMP(timezone=True)

file_ingestions = Table(
    "file_ingestions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("filename", Text, nullable=False),
    Column("file_hash", Text, nullable=False),
    Column("source_code", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("events_accepted", Integer, nullable=False, server_default="0"),
    Column("events_rejected", Integer, nullable=False, server_default="0"),
    Column("events_skipped", Integer, nullable=False, server_default="0"),
    Column("error", JSONB),
    Column("rejected", JSONB),
    Column("file_metadata", JSONB),
    Column("replica", Text),
    Column("received_at", TZ, nullable=False, server_default=text("now()")),
    Column("completed_at", TZ, nullable=False, server_default=text("now()")),
    Column("duration_ms", Integer),
    Column("moved_to", Text),
    CheckConstraint("state IN ('completed', 'failed')", name="file_ingestions_state"),
)
Index(
    "file_ingestions_completed_hash",
    file_ingestions.c.file_hash,
    unique=True,
    postgresql_where=text("state = 'completed'"),
)
Index("file_ingestions_completed_at", file_ingestions.c.completed_at)

source_events = Table(
    "source_events",
    metadata,
    Column("id", Text, primary_key=True),
    Column("file_id", BigInteger, ForeignKey("file_ingestions.id"), nullable=False),
    Column("source_code", Text, nullable=False),
    Column("source_type", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("short_description", Text),
    Column("description", Text),
    Column("highlights", JSONB, nullable=False),
    Column("location_name", Text),
    Column("location_city", Text),
    Column("location_printed_city", Text),
    Column("location_district", Text),
    Column("location_street", Text),
    Column("location_street_no", Text),
    Column("location_zipcode", Text),
    Column("geo_latitude", Float),
    Column("geo_longitude", Float),
    Column("geo_confidence", Float),
    Column("geo_country", Text),
    Column("categories", JSONB, nullable=False),
    Column("is_family_event", Boolean),
    Column("is_child_focused", Boolean),
    Column("admission_free", Boolean),
    Column("registration_required", Boolean),
    Column("registration_contact", Text),
    Column("confidence_score", Float),
    Column("raw", JSONB, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
)
Index("source_events_file_id", source_events.c.file_id)

event_dates = Table(
    "event_dates",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "event_id", Text, ForeignKey("source_events.id", ondelete="CASCADE"), nullable=False
    ),
    Column("position", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("start_time", Time),
    Column("end_time", Time),
    Column("end_date", Date),
)
Index("event_dates_event_id", event_dates.c.event_id)
Index("event_dates_date", event_dates.c.date)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", Text, nullable=False),
    Column("at", TZ, nullable=False, server_default=text("now()")),
    Column("data", JSONB, nullable=False),
)
