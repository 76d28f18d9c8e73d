"""Review queue by expected benefit, and the resolver tier's tables.

``review_items.benefit`` (P(wrong) × listings moved) orders the queue;
``resolver_at`` says when a resolver last looked at an item without settling
it.  Open items of the earlier kinds (one per ambiguous pair) are closed: the
next re-clustering of their components raises the new per-cluster questions.
``resolver_cache`` keeps LLM answers by the pair's content hash,
``resolver_usage`` counts requests per day for the budget, ``resolver_models``
holds the learned resolver's weights for every replica.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TZ = sa.TIMESTAMP(timezone=True)


def upgrade() -> None:
    op.add_column("review_items", sa.Column("benefit", sa.Float))
    op.add_column("review_items", sa.Column("resolver_at", TZ))
    op.create_index(
        "review_items_benefit",
        "review_items",
        ["state", sa.text("benefit DESC NULLS LAST"), "id"],
    )
    op.execute(
        "UPDATE review_items SET state = 'resolved', resolved_at = now(), "
        'data = data || \'{"settled_by": "migration 0005"}\'::jsonb '
        "WHERE state = 'open' AND kind NOT IN ('merge', 'split')"
    )
    op.create_table(
        "resolver_cache",
        sa.Column("content_hash", sa.Text, primary_key=True),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("answer", JSONB, nullable=False),
        sa.Column("created_at", TZ, nullable=False, server_default=sa.text("now()")),
    )
    op.create_table(
        "resolver_usage",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("resolver", sa.Text, primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "resolver_models",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("weights", JSONB, nullable=False),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("agreement", sa.Float),
        sa.Column("baseline", sa.Float),
        sa.Column("trained_at", TZ, nullable=False, server_default=sa.text("now()")),
    )


def downgrade() -> None:
    op.drop_table("resolver_models")
    op.drop_table("resolver_usage")
    op.drop_table("resolver_cache")
    op.drop_index("review_items_benefit", table_name="review_items")
    op.drop_column("review_items", "resolver_at")
    op.drop_column("review_items", "benefit")
