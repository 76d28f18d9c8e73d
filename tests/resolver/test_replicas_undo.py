"""Replicas share the queue without double decisions; a resolver's decision can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
import trio

from eventdedup.actors.resolver import ResolverChain, run_pass
from eventdedup.admin import review as ops
from eventdedup.admin.metrics import Metrics
from eventdedup.admin.queries import counters, get_event, list_reviews
from eventdedup.admin.resolver import Answer, apply_answer, claim
from eventdedup.db.engine import Database
from eventdedup.matching.learned import LearnedModel
from eventdedup.matching.review import FEATURES
from tests.resolver.helpers import ingest, open_items, source

#: A model sure that every pair is the same event (P = sigmoid(6) ~ 0.998), vouched for by
#: 30 held-out answers.
SURE = LearnedModel((6.0,) + (0.0,) * (len(FEATURES) - 1), held_out=((0.99, True),) * 30)


def _rows(engine: sa.Engine, query: str) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query)))


@pytest.mark.trio
async def test_two_replicas_share_the_queue_and_a_decision_can_be_undone(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files[:3], tmp_path)
    # about merge questions: split questions (a sure "same" dismisses them) are out of the way
    with migrated_engine.begin() as conn:
        conn.execute(sa.text("UPDATE review_items SET state = 'dismissed' WHERE kind = 'split'"))
    before = open_items(migrated_engine)
    assert len(before) >= 4
    replicas = [Database.from_url(database_url) for _ in range(2)]
    applied: list[int] = []

    async def replica(db: Database, name: str) -> None:
        chain = ResolverChain(("learned",), confidence=0.9, model=SURE)
        applied.append(await run_pass(db, source(), chain, Metrics(), name))

    async with trio.open_nursery() as nursery:
        for n, db in enumerate(replicas):
            nursery.start_soon(replica, db, f"replica-{n}")

    decisions = _rows(
        migrated_engine,
        "SELECT params->>'review_id' AS rid, replica, action FROM audit_log "
        "WHERE operator = 'resolver:learned'",
    )
    rids = [d.rid for d in decisions]
    assert len(rids) == len(set(rids)) == sum(applied) > 0, "an item was decided twice"
    assert {d.action for d in decisions} == {"review.merge"}
    # every item a resolver answered is closed, by it, with its confidence and reason
    settled = _rows(
        migrated_engine,
        "SELECT id, state, data FROM review_items WHERE data ? 'resolver' ORDER BY id",
    )
    assert len(settled) == len(rids)
    for row in settled:
        assert row.state == "resolved" and row.data["resolved_by"] == "resolver:learned"
        assert row.data["resolver"]["confidence"] > 0.99 and row.data["resolver"]["reason"]
    feed = _rows(migrated_engine, "SELECT type, data FROM outbox WHERE type LIKE 'review.%'")
    assert sum(m.type == "review.resolver" for m in feed) == len(rids)
    assert any(
        m.type == "review.resolved" and m.data["operator"] == "resolver:learned" for m in feed
    )

    # undo the resolver's last decision, as an operator would undo their own
    last = _rows(
        migrated_engine,
        "SELECT params->>'review_id' AS rid FROM audit_log "
        "WHERE operator = 'resolver:learned' ORDER BY id DESC LIMIT 1",
    )[0]
    constraints = _rows(migrated_engine, "SELECT count(*) AS n FROM match_constraints")[0].n
    undone = ops.run_review(
        migrated_engine,
        source(),
        action="review.undo",
        operator="resolver:learned",
        replica="t",
        params={},
        body=ops.undo,
    )
    assert undone["action"] == "review.merge"
    assert _rows(migrated_engine, "SELECT count(*) AS n FROM match_constraints")[0].n == (
        constraints - 1
    )
    reopened = {i.id: i for i in open_items(migrated_engine)}
    assert int(last.rid) in reopened and reopened[int(last.rid)].resolver_at is not None
    # the console's views: who decided, and today's resolver decisions on the dashboard
    with migrated_engine.connect() as conn:
        by_resolver = list_reviews(conn, "resolved", 1, 200, "resolver")
        by_operator = list_reviews(conn, "resolved", 1, 200, "operator")
        figures = counters(conn)
    assert {i["decided_by"] for i in by_resolver["items"]} == {"resolver:learned"}
    # those it answered (others its merges settled on the way)
    answered = [i for i in by_resolver["items"] if i["resolver"]]
    assert len(answered) == len(rids) - 1 and by_operator["total"] == 0
    assert all(i["resolver"]["confidence"] > 0.99 for i in answered)
    assert figures["resolver_today"] == len(rids) - 1
    # the event page shows who decided, with the resolver's confidence and reason
    with migrated_engine.connect() as conn:
        shown = answered[0]
        cid = shown["events"][0]["canonical_id"]
        page = get_event(conn, cid)
    assert page is not None
    [said] = [r for r in page["reviews"] if r["review_id"] == shown["id"]]
    assert said["decided_by"] == "resolver:learned" and said["resolution"] == "merged"
    assert said["resolver"]["confidence"] > 0.99 and said["resolver"]["reason"]
    assert figures["review_per_1000"] == round(1000 * figures["review_open"] / figures["events"])
    # ...and the resolver leaves the reopened item to humans
    chain = ResolverChain(("learned",), confidence=0.9, model=SURE)
    assert await run_pass(replicas[0], source(), chain, Metrics(), "again") == 0
    for db in replicas:
        db.dispose()


@pytest.mark.trio
async def test_a_resolver_never_contradicts_an_operator(
    corpus_files: list[Path], tmp_path: Path, migrated_engine: sa.Engine, database_url: str
) -> None:
    ingest(migrated_engine, corpus_files[:3], tmp_path)
    item = next(i for i in open_items(migrated_engine) if i.kind == "merge")
    a, b = sorted((item.a_id, item.b_id))
    with migrated_engine.begin() as conn:  # an operator's answer, not yet re-clustered
        conn.execute(
            sa.text(
                "INSERT INTO match_constraints (a_id, b_id, kind, operator) "
                "VALUES (:a, :b, 'cannot_link', 'alice')"
            ),
            {"a": a, "b": b},
        )
    question = claim(migrated_engine)
    assert question is not None and question.review_id == item.id
    sure = Answer("learned", True, 0.99, "looks the same")
    assert apply_answer(migrated_engine, source(), question, sure, "t") is None
    assert not _rows(migrated_engine, "SELECT id FROM audit_log")
    assert item.id in {i.id for i in open_items(migrated_engine)}  # left for humans
