"""The console's model and formatting, without Textual (microseconds each)."""

from __future__ import annotations

import datetime as dt

from tui import demo
from tui.formatting import FEED_TYPES, summarize
from tui.screens.review import plan
from tui.state import ConsoleState


def message(seq: int, kind: str, minutes_ago: float = 0, **data: object) -> dict[str, object]:
    at = demo.NOW - dt.timedelta(minutes=minutes_ago)
    return {"seq": seq, "type": kind, "at": at.isoformat(), "data": data}


def test_repeats_are_ignored_and_counters_follow_the_feed() -> None:
    state = ConsoleState(clock=demo.clock)
    batch = [
        message(1, "file.processed", events_accepted=5),
        message(2, "file.failed", file="x.json"),
        message(3, "canonical.created", canonical_id=1),
        message(4, "canonical.merged", canonical_id=1, merged=2),
        message(5, "review.flagged", review_id=9),
    ]
    assert len(state.apply_many(batch)) == 5
    assert state.apply_many(batch) == []  # a resume that replayed too much
    assert state.apply(message(3, "canonical.created")) is False
    assert [m["seq"] for m in state.feed] == [1, 2, 3, 4, 5]
    assert state.counters == {
        "files_processed": 1,
        "files_failed": 1,
        "events": 5,
        "canonicals": 0,
        "review_open": 1,
        "dead_letters": 1,
    }


def test_a_split_counts_one_new_canonical() -> None:
    # what the daemon sends for a split: the re-clustering's canonical.created, then the split
    state = ConsoleState(clock=demo.clock)
    state.apply_status(demo.STATUS)
    before = state.counters["canonicals"]
    state.apply_many(
        [
            message(9841, "canonical.created", canonical_id=2876),
            message(
                9842,
                "canonical.split",
                canonical_id=2875,
                source_event_id="kk-1",
                new_canonical_id=2876,
            ),
        ]
    )
    assert state.counters["canonicals"] == before + 1


def test_status_replaces_and_throughput_buckets_by_minute() -> None:
    state = ConsoleState(clock=demo.clock)
    state.apply_many(
        [
            message(1, "file.processed", 0.2, events_accepted=3),
            message(2, "file.processed", 0.5, events_accepted=4),
            message(3, "file.processed", 2.5, events_accepted=10),
            message(4, "actor.status", name="http", state="running"),
        ]
    )
    assert state.events_per_minute(4) == [10, 0, 7, 0]  # 10:27 … 10:30 (now)
    state.apply_status(demo.STATUS)
    assert list(state.actors) == ["http", "migrator", "feed", "processor", "watcher"]
    assert state.counters["canonicals"] == 2875 and state.feed_head == 9840


def test_every_type_has_a_summary() -> None:
    for kind in FEED_TYPES:
        assert summarize({"seq": 1, "type": kind, "data": {}})
    assert "merged into 1042" in summarize(
        message(1, "canonical.merged", canonical_id=1042, merged=7)
    )
    said = summarize(
        message(
            2,
            "review.resolver",
            review_id=5,
            operator="resolver:llm",
            same=True,
            confidence=0.93,
            reason="same reading",
        )
    )
    assert said == "review 5 resolver:llm: same (0.93) same reading"
    settled = summarize(
        message(3, "review.resolved", review_id=6, action="settled", settled_by="file (bwb)")
    )
    assert settled == "review 6 settled by file (bwb)"


def test_undo_on_a_resolver_decision_is_the_resolvers() -> None:
    decided = demo.RESOLVED_REVIEWS[0]
    assert plan("undo", decided, "op")[1] == {"operator": "resolver:llm"}  # type: ignore[index]
    assert plan("undo", demo.REVIEWS[0], "op")[1] == {"operator": "op"}  # type: ignore[index]


def test_review_actions_name_the_right_ids() -> None:
    item = demo.REVIEWS[0]
    method, params, _ = plan("merge", item, "op") or ("", {}, "")
    assert method == "review.merge"
    assert params == {
        "source_canonical_id": 2950,
        "target_canonical_id": 1500,
        "review_id": 77,
        "operator": "op",
    }
    assert plan("split", item, "op")[1] == {  # type: ignore[index]
        "canonical_id": 2950,
        "source_event_id": "kk-8812",
        "review_id": 77,
        "operator": "op",
    }
    assert plan("keep", item, "op")[1]["a_id"] == "sp-5530"  # type: ignore[index]
    assert plan("undo", None, "op")[:2] == ("review.undo", {"operator": "op"})  # type: ignore[index]
    assert plan("merge", None, "op") is None
