"""Files first: the resolver neither claims nor applies while this replica commits a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from eventdedup.actors.activity import FileActivity
from eventdedup.actors.resolver import ResolverChain, run_pass
from eventdedup.admin.metrics import Metrics
from eventdedup.db.engine import Database
from eventdedup.matching.learned import LearnedModel
from eventdedup.matching.review import FEATURES
from tests.resolver.helpers import ingest, open_items, source

#: A model sure that every pair is the same event, and vouched for by 30 held-out answers.
SURE = LearnedModel((6.0,) + (0.0,) * (len(FEATURES) - 1), held_out=((0.99, True),) * 30)


@pytest.mark.trio
async def test_activity_counts_nested_commits_and_is_idle_in_between() -> None:
    activity = FileActivity()
    await activity.wait_idle()  # idle from the start: returns at once
    with activity.committing():
        with activity.committing():
            assert activity.busy
        assert activity.busy
    assert not activity.busy
    await activity.wait_idle(settle=0.01)


@pytest.mark.trio
async def test_the_resolver_waits_until_no_file_is_being_committed(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files[:3], tmp_path)
    assert open_items(migrated_engine)
    db = Database.from_url(database_url)
    activity = FileActivity()
    chain = ResolverChain(("learned",), confidence=0.9, model=SURE)
    applied: list[int] = []

    async def resolve() -> None:
        applied.append(await run_pass(db, source(), chain, Metrics(), "t", activity=activity))

    async with trio.open_nursery() as nursery:
        with activity.committing():
            nursery.start_soon(resolve)
            await trio.testing.wait_all_tasks_blocked()
            # blocked behind the file: nothing claimed, nothing decided
            assert all(i.resolver_at is None for i in open_items(migrated_engine))
        # the file is done: the resolver gets to work
    assert applied and applied[0] > 0
    db.dispose()
