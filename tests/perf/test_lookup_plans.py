"""The ambiguous-decision look-ups use their partial indexes, never a scan of every decision.

Each file reads the components tied by an ambiguous decision to the ones it joins
(``db/locks.py``), and the clusters one ambiguous pair away (``db/dedup.py``,
``_ring``).  Under 1 % of decisions are ambiguous; on a 20,000-event store the
planner scanned all ~165,000 decisions for it.  The store here has the proportions
of that one (8 decisions per event, 1 in 120 ambiguous), analysed.
"""

from __future__ import annotations

import sqlalchemy as sa

from eventdedup.db import dedup, locks
from eventdedup.db.events import text_array

EVENTS = 20_000


def _store(conn: sa.Connection) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO file_ingestions (id, filename, file_hash, source_code, state, size_bytes) "
            "VALUES (1, 'x_1.json', 'h', 'x', 'completed', 1)"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO source_events (id, file_id, source_code, source_type, title, highlights, "
            "  categories, raw, content_hash, component_id, canonical_id) "
            "SELECT 'e' || lpad(n::text, 6, '0'), 1, 'x', 't', 'title', '[]', '[]', '{}', 'c', "
            "  n / 2, n / 2 "
            "FROM generate_series(1, :n) AS n"
        ),
        {"n": EVENTS},
    )
    conn.execute(
        sa.text(
            "INSERT INTO match_decisions (a_id, b_id, decision, combined, score) "
            "SELECT 'e' || lpad(n::text, 6, '0'), 'e' || lpad((n + k)::text, 6, '0'), "
            "  CASE WHEN (n + k) % 120 = 0 THEN 'ambiguous' WHEN k = 1 THEN 'match' "
            "       ELSE 'no_match' END, 0.5, '{}' "
            "FROM generate_series(1, :n) AS n, generate_series(1, 8) AS k"
        ),
        {"n": EVENTS},
    )
    conn.execute(sa.text("ANALYZE"))


def _plan(conn: sa.Connection, statement: sa.TextClause, params: dict[str, str]) -> str:
    rows = conn.execute(sa.text("EXPLAIN " + statement.text), params).scalars()
    return "\n".join(rows)


def test_ambiguous_decision_look_ups_use_the_partial_indexes(migrated_engine: sa.Engine) -> None:
    ids = text_array(sorted(f"e{n:06d}" for n in range(1_000, 1_400, 2)))  # 200 listings
    joined = text_array(sorted(f"e{n:06d}" for n in range(1_000, 1_360, 2)))
    with migrated_engine.begin() as conn:
        _store(conn)
        tied = _plan(conn, locks._COMPONENTS, {"ids": ids, "joined": joined})
        ring = _plan(conn, dedup._CROSS, {"ids": ids})
    for plan in (tied, ring):
        assert "match_decisions_ambiguous_" in plan, plan
        assert "Seq Scan on match_decisions" not in plan, plan
