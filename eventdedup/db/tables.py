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
from sqlalchemy.dialects.postgresql import JSON, JSONB, TIMESTAMP

metadata = MetaData()

TZ = TIMESTAMP(timezone=True)

#: event ids and blocking keys: compared by code point, as Python compares them, whatever
#: the database's locale (the pair tables check ``a_id < b_id``; migration 0009)
ID = Text(collation="C")

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
    Column("id", ID, primary_key=True),
    # no foreign key: written with the file's row, never deleted (migration 0008)
    Column("file_id", BigInteger, nullable=False),
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
    # json: stored as written and never queried inside (migration 0008)
    Column("raw", JSON, nullable=False),
    Column("content_hash", Text, nullable=False),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
    # dedup engine (migration 0002): the normalized record, its match-graph component
    # (connected over match edges and must-links) and the canonical event it belongs to
    Column("record", JSON),
    Column("component_id", BigInteger),
    Column("canonical_id", BigInteger),
)
Index("source_events_component_id", source_events.c.component_id)
Index("source_events_canonical_id", source_events.c.canonical_id)

event_dates = Table(
    "event_dates",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    # no foreign key: written with the event's row, never deleted (migration 0008)
    Column("event_id", ID, nullable=False),
    Column("position", Integer, nullable=False),
    Column("date", Date, nullable=False),
    Column("start_time", Time),
    Column("end_time", Time),
    Column("end_date", Date),
)
Index("event_dates_event_id", event_dates.c.event_id)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", Text, nullable=False),
    Column("at", TZ, nullable=False, server_default=text("now()")),
    Column("data", JSONB, nullable=False),
)

# --- dedup engine (migration 0002) -------------------------------------------------------------

# The two bulk tables below carry no foreign keys: source events are never deleted, and a
# per-row FK check would dominate the cost of loading tens of thousands of rows per file.
event_blocking_keys = Table(
    "event_blocking_keys",
    metadata,
    Column("key", ID, primary_key=True),
    Column("event_id", ID, primary_key=True),
)

canonical_events = Table(
    "canonical_events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("location_city", Text),
    Column("first_date", Date),
    Column("last_date", Date),
    Column("categories", JSONB, nullable=False),
    Column("source_count", Integer, nullable=False),
    Column("match_confidence", Float),
    Column("needs_review", Boolean, nullable=False, server_default="false"),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("data", JSONB, nullable=False),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
    Column("updated_at", TZ, nullable=False, server_default=text("now()")),
)
Index("canonical_events_first_date", canonical_events.c.first_date)
Index(
    "canonical_events_title_trgm",
    canonical_events.c.title,
    postgresql_using="gin",
    postgresql_ops={"title": "gin_trgm_ops"},
)

canonical_redirects = Table(
    "canonical_redirects",
    metadata,
    Column("old_id", BigInteger, primary_key=True),
    Column("new_id", BigInteger, nullable=False),
    Column("at", TZ, nullable=False, server_default=text("now()")),
)

match_decisions = Table(
    "match_decisions",
    metadata,
    Column("a_id", ID, primary_key=True),
    Column("b_id", ID, primary_key=True),
    Column("decision", Text, nullable=False),
    Column("combined", Float, nullable=False),
    Column("score", JSON, nullable=False),  # json, read back whole only (migration 0008)
    Column("decided_at", TZ, nullable=False, server_default=text("now()")),
    CheckConstraint("a_id < b_id", name="match_decisions_ordered"),
    CheckConstraint(
        "decision IN ('match', 'ambiguous', 'no_match')", name="match_decisions_decision"
    ),
)
Index("match_decisions_b_id", match_decisions.c.b_id)
# the few ambiguous decisions of given listings: tied components, review rings (migration 0007)
Index(
    "match_decisions_ambiguous_a",
    match_decisions.c.a_id,
    postgresql_where=match_decisions.c.decision == "ambiguous",
)
Index(
    "match_decisions_ambiguous_b",
    match_decisions.c.b_id,
    postgresql_where=match_decisions.c.decision == "ambiguous",
)

match_constraints = Table(
    "match_constraints",
    metadata,
    Column("a_id", ID, ForeignKey("source_events.id", ondelete="CASCADE"), primary_key=True),
    Column("b_id", ID, ForeignKey("source_events.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", Text, nullable=False),
    Column("operator", Text),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
    CheckConstraint("a_id < b_id", name="match_constraints_ordered"),
    CheckConstraint("kind IN ('must_link', 'cannot_link')", name="match_constraints_kind"),
)
Index("match_constraints_b_id", match_constraints.c.b_id)

review_items = Table(
    "review_items",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("a_id", ID),
    Column("b_id", ID),
    Column("canonical_id", BigInteger),
    Column("uncertainty", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("data", JSONB, nullable=False),
    Column("state", Text, nullable=False, server_default="open"),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
    Column("resolved_at", TZ),
    # expected benefit of an answer: P(wrong) x listings moved (migration 0005)
    Column("benefit", Float),
    # when a resolver last looked at the item without settling it (migration 0005)
    Column("resolver_at", TZ),
    CheckConstraint("state IN ('open', 'resolved', 'dismissed')", name="review_items_state"),
)
Index("review_items_open", review_items.c.state, review_items.c.uncertainty.desc())
Index(
    "review_items_benefit",
    review_items.c.state,
    review_items.c.benefit.desc().nulls_last(),
    review_items.c.id,
)
Index("review_items_a_id", review_items.c.a_id)
Index("review_items_b_id", review_items.c.b_id)
# at most one open item per question, also when two replicas raise it at once (migration 0007)
Index(
    "review_items_open_key",
    review_items.c.kind,
    review_items.c.a_id,
    review_items.c.b_id,
    unique=True,
    postgresql_where=review_items.c.state == "open",
)

# --- admin surface (migration 0003) -------------------------------------------------------------

# Every mutating admin command leaves one row: who, when, what, the state before and after,
# and (for review operations) exactly what ``review.undo`` has to reverse.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", TZ, nullable=False, server_default=text("now()")),
    Column("operator", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("replica", Text),
    Column("params", JSONB, nullable=False),
    Column("before", JSONB),
    Column("after", JSONB),
    Column("undo", JSONB),
    Column("undone_by", BigInteger),
)
Index("audit_log_operator", audit_log.c.operator, audit_log.c.id.desc())

# Operator settings that outlive a restart and apply to every replica (``config.set``).
config_settings = Table(
    "config_settings",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", JSONB, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", TZ, nullable=False, server_default=text("now()")),
    Column("updated_by", Text),
)

# --- performance (migration 0004) ---------------------------------------------------------------

# The blocking index holds one row per key *prefix* (the key without its start-time slot) and
# event, the slots as bits: bit s+1 for slot s, bit 0 for a key without slot (the primary key
# INCLUDEs it, for index-only lookups); see eventdedup.db.dedup.index_entries.
event_blocking_keys.append_column(Column("slots", BigInteger, nullable=False))


# --- resolver tier (migration 0005) -------------------------------------------------------------

# The LLM resolver's answers, by the content hash of the pair (both listings' text).
resolver_cache = Table(
    "resolver_cache",
    metadata,
    Column("content_hash", Text, primary_key=True),
    Column("model", Text, nullable=False),
    Column("answer", JSONB, nullable=False),
    Column("created_at", TZ, nullable=False, server_default=text("now()")),
)

# Requests per resolver per UTC day (the LLM resolver's daily budget).
resolver_usage = Table(
    "resolver_usage",
    metadata,
    Column("day", Date, primary_key=True),
    Column("resolver", Text, primary_key=True),
    Column("requests", Integer, nullable=False, server_default="0"),
)

# The learned resolver's current weights, shared by every replica.
resolver_models = Table(
    "resolver_models",
    metadata,
    Column("name", Text, primary_key=True),
    Column("weights", JSONB, nullable=False),
    Column("decisions", Integer, nullable=False),
    Column("agreement", Float),
    Column("baseline", Float),
    Column("trained_at", TZ, nullable=False, server_default=text("now()")),
)
