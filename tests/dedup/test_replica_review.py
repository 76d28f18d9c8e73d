"""Two replicas refreshing one merge question at once: one open review item, announced once.

A re-clustering refreshes the merge questions of the clusters one ambiguous pair
away (ring 1); such a question can sit between two clusters each next to the file
of another replica.  Both transactions read that no item is open yet (the other's
insert is not committed), so both insert: the open items' unique index makes the
later insert wait for the first transaction and update its row instead.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from eventdedup.db.dedup import Messages, _refresh_review
from eventdedup.matching.decision import PairScore
from eventdedup.matching.review import MERGE, QueueItem
from tests._support.wait import wait_until


def _question(probability: float) -> QueueItem:
    score = PairScore(
        "p1", "q1", 0.9, 0.8, 0.6, 0.4, 0.55, "ambiguous", "title differs", "deterministic"
    )
    return QueueItem(MERGE, "p1", "q1", probability, 2, ("p1",), ("q1", "q2"), score, True)


def _waiting_for_a_transaction(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
                )
            ).scalar_one()
        )


def test_one_merge_question_raised_by_two_replicas_at_once_is_one_open_item(
    migrated_engine: sa.Engine,
) -> None:
    second: dict[str, Messages] = {}
    failed: list[BaseException] = []
    with migrated_engine.connect() as a, migrated_engine.connect() as b:
        # replica A, next to cluster p1 (its file re-clustered "xa"), not committed yet
        first = _refresh_review(a, ["p1"], [_question(0.4)], "file (a)", merges_apart_from=["xa"])

        def replica_b() -> None:
            try:
                second["messages"] = _refresh_review(
                    b, ["q1", "q2"], [_question(0.45)], "file (b)", merges_apart_from=["xb"]
                )
            except BaseException as exc:  # reported below, in the test's thread
                failed.append(exc)

        thread = threading.Thread(target=replica_b)
        thread.start()
        # B read the store while A's item was uncommitted: it either waits for A's row or
        # (without the unique index) has inserted its own
        wait_until(
            lambda: not thread.is_alive() or _waiting_for_a_transaction(migrated_engine),
            60,
            "replica B to insert or wait",
        )
        a.commit()
        thread.join(60)
        assert not thread.is_alive()
        assert not failed, failed
        b.commit()
    with migrated_engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, uncertainty FROM review_items "
                "WHERE state = 'open' AND kind = 'merge' AND a_id = 'p1' AND b_id = 'q1'"
            )
        ).all()
    assert len(rows) == 1
    assert rows[0].uncertainty == 0.45  # the later refresh's evidence
    flagged = [m for m in [*first, *second["messages"]] if m[0] == "review.flagged"]
    assert [m[1]["review_id"] for m in flagged] == [rows[0].id]
