"""One open review item per question, also with replicas; ambiguous decisions indexed.

``review_items_open_key``: at most one *open* item per ``(kind, a_id, b_id)``.
Two replicas refreshing the merge question of a cluster next to both their files
could otherwise each insert it; the insert is ``ON CONFLICT`` on this index
(``db/dedup.py``).  Open duplicates left by earlier versions are closed first
(the oldest stays open).

``match_decisions_ambiguous_a`` / ``_b``: the ambiguous decisions of given
listings, read by every file for the components tied to the ones it joins
(``db/locks.py``) and for the merge questions next to them (``db/dedup.py``,
``_ring``).  Less than 1 % of decisions are ambiguous; without these the look-up
scanned the whole table (docs/performance.md, "Replicas").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "UPDATE review_items r SET state = 'resolved', resolved_at = now(), "
        'data = data || \'{"settled_by": "migration 0007 (duplicate)"}\'::jsonb '
        "WHERE r.state = 'open' AND EXISTS (SELECT 1 FROM review_items o "
        "  WHERE o.state = 'open' AND o.kind = r.kind AND o.a_id = r.a_id "
        "  AND o.b_id = r.b_id AND o.id < r.id)"
    )
    op.create_index(
        "review_items_open_key",
        "review_items",
        ["kind", "a_id", "b_id"],
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )
    for side in ("a", "b"):
        op.create_index(
            f"match_decisions_ambiguous_{side}",
            "match_decisions",
            [f"{side}_id"],
            postgresql_where=sa.text("decision = 'ambiguous'"),
        )


def downgrade() -> None:
    for side in ("a", "b"):
        op.drop_index(f"match_decisions_ambiguous_{side}", table_name="match_decisions")
    op.drop_index("review_items_open_key", table_name="review_items")
