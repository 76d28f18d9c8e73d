"""The blocking index's prefix + slot-bits rows: exact, and migrated both ways (0004)."""

from __future__ import annotations

import itertools

import sqlalchemy as sa

from eventdedup.db.dedup import index_entries
from eventdedup.db.migrate import migrate

KEYS = [
    "dc|2026-02-14|waldkirch|0",
    "dc|2026-02-14|waldkirch|11",
    "dc|2026-02-14|waldkirch",
    "dt|2026-02-14|konzert|9",
    "dt|2026-02-14|konzert|07",
    "dg|2026-02-14|48.10|7.80|61",
    "dg|2026-02-14|48.10|7.80|62",
    "|5",
    "x|٣",
    "plain",
    "a|b\nc|3",
]


def _decode(entries: dict[str, int]) -> set[str]:
    return {
        prefix if bit == 0 else f"{prefix}|{bit - 1}"
        for prefix, slots in entries.items()
        for bit in range(63)
        if slots >> bit & 1
    }


def test_entries_are_a_one_to_one_encoding_of_the_keys() -> None:
    assert _decode(index_entries(KEYS)) == set(KEYS)
    assert index_entries(["dc|d|x|0", "dc|d|x|11", "dc|d|x"]) == {"dc|d|x": 1 | 2 | 4096}
    # two events share a key exactly when they share a prefix with overlapping bits
    for a, b in itertools.combinations([KEYS[:3], KEYS[3:6], KEYS[5:], ["plain"], ["x"]], 2):
        ea, eb = index_entries(a), index_entries(b)
        shared = any(ea[p] & eb[p] for p in ea.keys() & eb.keys())
        assert shared == bool(set(a) & set(b)), (a, b)


def test_migration_converts_stored_keys_and_back(engine: sa.Engine) -> None:
    migrate(engine, "upgrade", "0003")
    old = [(k, f"e{n % 3}") for n, k in enumerate(KEYS)]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO event_blocking_keys (key, event_id) VALUES (:k, :e)"),
            [{"k": k, "e": e} for k, e in old],
        )
    migrate(engine, "upgrade", "0004")
    with engine.connect() as conn:
        rows = {
            (r.key, r.event_id): r.slots
            for r in conn.execute(sa.text("SELECT key, event_id, slots FROM event_blocking_keys"))
        }
    expected: dict[tuple[str, str], int] = {}
    for e in sorted({e for _, e in old}):
        for prefix, slots in index_entries(k for k, x in old if x == e).items():
            expected[(prefix, e)] = slots
    assert rows == expected
    migrate(engine, "downgrade", "0003")
    with engine.connect() as conn:
        back = set(conn.execute(sa.text("SELECT key, event_id FROM event_blocking_keys")).all())
    assert back == set(old)
