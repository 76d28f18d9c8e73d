"""The statements one file issues do not grow with the number of events stored.

Counted on the engine (``before_cursor_execute``; an ``executemany`` is one
pipelined statement) plus the ``COPY`` loads and the hot queries of ``db/dedup.py``
(``_fetch``), which go straight to the driver.
The same 200-event file is processed once with 200 and once with 2,000 events
of the same days stored: ten times the stored candidates must not mean more
statements (an N+1 query per candidate, component or canonical would).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

import eventdedup.db.dedup
import eventdedup.db.events
from eventdedup.db.migrate import upgrade_head
from eventdedup.matching import load_matching_config
from tests._support.db import scalar
from tests._support.pipeline import file_processor

CFG = load_matching_config(None)

#: Statements that only run when a file needs them (canonical updates, merges, emptied
#: canonicals, review item updates / closes / inserts): the one allowed difference.
OPTIONAL = 8

#: Statements for one file, whatever is stored: claim, checks, file row, COPYs, one
#: matching pass (locks, candidates, clustering, synthesis, review queue).
ONE_FILE = 45
#: What each further file of a batch adds (claim, checks, file row): the matching pass
#: is shared.
PER_FURTHER_FILE = 6


class Counter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.on = False

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.statements.append(" ".join(statement.split())[:80])


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter]:
    counter = Counter()
    for module in (eventdedup.db.events, eventdedup.db.dedup):
        real = module.copy_lines

        def copy_lines(conn: Any, table: str, *args: Any, _real: Any = real) -> int:
            if counter.on:
                counter.statements.append(f"COPY {table}")
            return _real(conn, table, *args)

        monkeypatch.setattr(module, "copy_lines", copy_lines)
    real_fetch = eventdedup.db.dedup._fetch

    def fetch(conn: Any, statement: str, *args: Any) -> Any:  # the driver-level queries
        if counter.on:
            counter.statements.append(" ".join(statement.split())[:80])
        return real_fetch(conn, statement, *args)

    monkeypatch.setattr(eventdedup.db.dedup, "_fetch", fetch)
    yield counter


def _run(
    engine: sa.Engine, tmp: Path, stored: list[Any], measured: Any, counter: Counter
) -> tuple[int, int]:
    upgrade_head(engine)
    processor = file_processor(engine, tmp)
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True)
    for f in stored:
        (inbox / f.name).write_bytes(f.to_bytes())
        assert processor.process(inbox / f.name).outcome == "processed"
    (inbox / measured.name).write_bytes(measured.to_bytes())
    sa.event.listen(engine, "before_cursor_execute", counter)
    counter.on = True
    try:
        assert processor.process(inbox / measured.name).outcome == "processed"
    finally:
        counter.on = False
        sa.event.remove(engine, "before_cursor_execute", counter)
    ids = [e["id"] for e in measured.events]
    candidates = scalar(
        engine,
        "SELECT count(*) FROM match_decisions WHERE (a_id = ANY(:ids)) <> (b_id = ANY(:ids))",
        ids=ids,
    )
    return len(counter.statements), candidates


def test_statements_per_file_do_not_grow_with_the_store(
    synthetic: ModuleType,
    tmp_path: Path,
    engine: sa.Engine,
    counting: Counter,
) -> None:
    files = list(synthetic.take(synthetic.generate(21), 2200))
    measured, before = files[-1], files[:-1]
    assert len(measured.events) == 200 and sum(len(f.events) for f in before) == 2000

    small, small_pairs = _run(engine, tmp_path / "small", before[-1:], measured, counting)
    small_statements = list(counting.statements)
    counting.statements.clear()
    with engine.begin() as conn:  # start over with ten times as much stored
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    large, large_pairs = _run(engine, tmp_path / "large", before, measured, counting)

    print(
        f"statements for one file: {small} with 200 stored ({small_pairs} stored "
        f"candidates), {large} with 2000 stored ({large_pairs})"
    )
    assert large_pairs >= 3 * small_pairs > 0, "the larger store must offer more candidates"
    extra = sorted(set(counting.statements) - set(small_statements))
    print("only with the larger store:", extra)
    assert large <= small + OPTIONAL, (small_statements, counting.statements)
    assert large <= ONE_FILE


def _run_batch(
    engine: sa.Engine, tmp: Path, stored: list[Any], measured: list[Any], counter: Counter
) -> int:
    upgrade_head(engine)
    processor = file_processor(engine, tmp)
    inbox = tmp / "inbox"
    inbox.mkdir(parents=True)
    for f in stored:
        (inbox / f.name).write_bytes(f.to_bytes())
        assert processor.process(inbox / f.name).outcome == "processed"
    parsed = []
    for f in measured:
        (inbox / f.name).write_bytes(f.to_bytes())
        parsed.append(processor.parse(inbox / f.name))
    sa.event.listen(engine, "before_cursor_execute", counter)
    counter.on = True
    try:
        outcomes = processor.commit_batch(parsed)
    finally:
        counter.on = False
        sa.event.remove(engine, "before_cursor_execute", counter)
    assert [o.outcome for o in outcomes] == ["processed"] * len(measured)
    return len(counter.statements)


def test_statements_per_batch_do_not_grow_with_the_store(
    synthetic: ModuleType,
    tmp_path: Path,
    engine: sa.Engine,
    counting: Counter,
) -> None:
    """A batch of 5 files: a fixed set per file (claim, checks, file row, COPYs) plus one
    matching pass for the whole batch, whatever is stored."""
    files = list(synthetic.take(synthetic.generate(21), 3000))
    measured, before = files[-5:], files[:-5]
    assert sum(len(f.events) for f in before) == 2000

    small = _run_batch(engine, tmp_path / "small", before[-1:], measured, counting)
    small_statements = list(counting.statements)
    counting.statements.clear()
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    large = _run_batch(engine, tmp_path / "large", before, measured, counting)
    print(f"statements for a batch of 5 files: {small} with 200 stored, {large} with 2000")
    per_file = {"SELECT pg_try_advisory_xact_lock", "INSERT INTO file_ingestions"}
    for prefix in per_file:
        assert sum(s.startswith(prefix) for s in counting.statements) == len(measured), prefix
    # one candidate lookup and one clustering pass for the whole batch
    assert sum(s.startswith("SELECT DISTINCT n.id, k.event_id") for s in counting.statements) == 1
    assert sum(s.startswith("UPDATE source_events") for s in counting.statements) == 1
    assert large <= small + OPTIONAL, (small_statements, counting.statements)
    assert large <= ONE_FILE + PER_FURTHER_FILE * (len(measured) - 1)
