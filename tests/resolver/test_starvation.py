"""The resolver gets through while two processors commit files back to back.

Files hold the matching lock shared; the resolver needs it exclusive and, files
first, only takes it when it is free.  Two processors whose files overlap (each
commits only once the other holds the lock too) would keep it out for ever;
after its patience the resolver queues for the lock, the files asking for it
then wait behind it, and its answer is applied while files are still coming.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio
from sqlalchemy.engine import Connection

from eventdedup.actors.resolver import apply_when_free
from eventdedup.admin.resolver import Answer, claim
from eventdedup.db.dedup import DbDeduplicator, Messages
from eventdedup.db.engine import Database
from eventdedup.db.locks import MATCH_LOCK
from eventdedup.model import SourceEvent
from tests._support.wait import trio_wait_until, wait_until
from tests.dedup.test_replicas import event, processor, write
from tests.resolver.helpers import CFG, ingest, source

#: files the two processors commit at most; the resolver must get through before
FILES = 40

_MATCH_LOCK = (
    "SELECT count(*) FILTER (WHERE NOT granted AND mode = 'ExclusiveLock') AS queued "
    "FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
    "AND classid = 0 AND objid = CAST(:key AS oid)"
)


def _match_lock(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(_MATCH_LOCK), {"key": MATCH_LOCK}).one()


class Baton:
    """How many files have taken the matching lock so far (shared by both processors)."""

    def __init__(self) -> None:
        self.taken = 0
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            self.taken += 1
            return self.taken


class Overlapping(DbDeduplicator):
    """Commits a file only once a later file holds the matching lock too (or someone queues
    for it exclusive, or the files ran out), so files hold it back to back."""

    def __init__(self, engine: sa.Engine, baton: Baton, stop: threading.Event) -> None:
        super().__init__(CFG)
        self.engine, self.baton, self.stop = engine, baton, stop

    def apply(
        self,
        conn: Connection,
        events: Sequence[SourceEvent],
        timings: dict[str, float] | None = None,
        *,
        prepared: Any = None,
        insert: Any = None,
    ) -> Messages:
        messages = super().apply(conn, events, timings, prepared=prepared, insert=insert)
        mine = self.baton.take()  # matched: it holds the matching lock until it commits

        def handed_over() -> bool:
            if self.baton.taken > mine or self.stop.is_set():
                return True
            return bool(_match_lock(self.engine).queued)

        wait_until(handed_over, 120, "a later file to hold the matching lock", interval=0.01)
        return messages


@pytest.mark.trio
async def test_the_resolver_gets_through_files_committed_back_to_back_by_two_processors(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files[:3], tmp_path)
    question = claim(migrated_engine)
    assert question is not None
    # keep apart / dismiss: applies whatever the clusters look like
    answer = Answer("learned", question.kind != "merge", 0.99, "test")

    # each processor's files in towns of its own: they never wait for each other's regions
    towns = [["Nordheim", "Ostbach"], ["Suedweiler", "Westhofen"]]
    numbers = itertools.count()
    baton = Baton()
    stop = threading.Event()  # the resolver is done, or the files ran out
    committed: list[str] = []

    def files(i: int) -> None:
        dedup = Overlapping(migrated_engine, baton, stop)
        work = processor(migrated_engine, tmp_path / f"p{i}", dedup)
        while not stop.is_set():
            n = next(numbers)
            if n >= FILES:
                stop.set()
                return
            town = towns[i][n % 2]
            path = write(tmp_path / "in", f"f{n}_1.json", [event(f"f{n}", town, f"Markt {n}")])
            assert work.process(path).outcome == "processed"
            committed.append(path.name)

    db = Database.from_url(database_url)
    result: list[Any] = []
    try:
        async with trio.open_nursery() as nursery:
            for i in range(2):
                nursery.start_soon(trio.to_thread.run_sync, files, i)
            # files are flowing: the matching lock is held from here until they run out
            await trio_wait_until(lambda: committed, 120, "the first file")
            result.append(await apply_when_free(db, source(), question, answer, "t", patience=0.5))
            applied_after = len(committed)
            stop.set()
    finally:
        stop.set()
        db.dispose()
    assert result[0] is not None  # applied
    # it got through while the processors still had files to commit
    assert applied_after < FILES, f"applied only after all {FILES} files"
