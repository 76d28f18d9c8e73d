"""Dedup engine: blocking keys, decisions, constraints, canonical events, review queue.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.add_column("source_events", sa.Column("record", JSONB))
    op.add_column("source_events", sa.Column("component_id", sa.BigInteger))
    op.add_column("source_events", sa.Column("canonical_id", sa.BigInteger))
    op.create_index("source_events_component_id", "source_events", ["component_id"])
    op.create_index("source_events_canonical_id", "source_events", ["canonical_id"])
    op.execute("CREATE SEQUENCE component_ids")

    # No foreign keys on the two bulk tables: events are never deleted, and per-row
    # FK checks would dominate loading tens of thousands of rows per file.
    op.create_table(
        "event_blocking_keys",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
    )
    op.create_index("event_blocking_keys_event_id", "event_blocking_keys", ["event_id"])

    op.create_table(
        "canonical_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("location_city", sa.Text),
        sa.Column("first_date", sa.Date),
        sa.Column("last_date", sa.Date),
        sa.Column("categories", JSONB, nullable=False),
        sa.Column("source_count", sa.Integer, nullable=False),
        sa.Column("match_confidence", sa.Float),
        sa.Column("needs_review", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("updated_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("canonical_events_first_date", "canonical_events", ["first_date"])
    op.create_index("canonical_events_last_date", "canonical_events", ["last_date"])
    op.create_index(
        "canonical_events_title_trgm",
        "canonical_events",
        ["title"],
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )

    op.create_table(
        "canonical_redirects",
        sa.Column("old_id", sa.BigInteger, primary_key=True),
        sa.Column("new_id", sa.BigInteger, nullable=False),
        sa.Column("at", TZ, nullable=False, server_default=sa.text("now()")),
    )

    op.create_table(
        "match_decisions",
        sa.Column("a_id", sa.Text, primary_key=True),
        sa.Column("b_id", sa.Text, primary_key=True),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("combined", sa.Float, nullable=False),
        sa.Column("score", JSONB, nullable=False),
        sa.Column("decided_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("a_id < b_id", name="match_decisions_ordered"),
        sa.CheckConstraint(
            "decision IN ('match', 'ambiguous', 'no_match')", name="match_decisions_decision"
        ),
    )
    op.create_index("match_decisions_b_id", "match_decisions", ["b_id"])

    op.create_table(
        "match_constraints",
        sa.Column(
            "a_id", sa.Text, sa.ForeignKey("source_events.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "b_id", sa.Text, sa.ForeignKey("source_events.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("operator", sa.Text),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("a_id < b_id", name="match_constraints_ordered"),
        sa.CheckConstraint("kind IN ('must_link', 'cannot_link')", name="match_constraints_kind"),
    )
    op.create_index("match_constraints_b_id", "match_constraints", ["b_id"])

    op.create_table(
        "review_items",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("a_id", sa.Text),
        sa.Column("b_id", sa.Text),
        sa.Column("canonical_id", sa.BigInteger),
        sa.Column("uncertainty", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("data", JSONB, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="open"),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
        sa.Column("resolved_at", TZ),
        sa.CheckConstraint("state IN ('open', 'resolved', 'dismissed')", name="review_items_state"),
    )
    op.create_index("review_items_open", "review_items", ["state", sa.text("uncertainty DESC")])
    op.create_index("review_items_a_id", "review_items", ["a_id"])
    op.create_index("review_items_b_id", "review_items", ["b_id"])


def downgrade() -> None:
    for table in (
        "review_items",
        "match_constraints",
        "match_decisions",
        "canonical_redirects",
        "canonical_events",
        "event_blocking_keys",
    ):
        op.drop_table(table)
    op.execute("DROP SEQUENCE component_ids")
    for column in ("canonical_id", "component_id", "record"):
        op.drop_column("source_events", column)
