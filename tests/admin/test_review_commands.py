"""Review operations over the websocket: constraints + re-clustering, feed, audit, undo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests._support.auth import TOKEN
from tests.admin.helpers import Session, session, write_events
from tests.daemon.harness import drop_file, make_settings, running_daemon


def _rows(engine: sa.Engine, query: str, **params: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), params))


def _canonical(engine: sa.Engine, *event_ids: str) -> list[int]:
    found = {
        r.id: r.canonical_id
        for r in _rows(
            engine,
            "SELECT id, canonical_id FROM source_events WHERE id = ANY(:ids)",
            ids=list(event_ids),
        )
    }
    return [found[e] for e in event_ids]


def _constraint(engine: sa.Engine, x: str, y: str) -> str | None:
    a, b = sorted((x, y))
    rows = _rows(
        engine, "SELECT kind FROM match_constraints WHERE a_id = :a AND b_id = :b", a=a, b=b
    )
    return rows[0].kind if rows else None


async def _audit(s: Session, operator: str) -> list[dict[str, Any]]:
    return (await s.call("audit.list", {"operator": operator}))["items"]


@pytest.mark.trio
async def test_merge_split_undo_keep_separate_dismiss(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    corpus_files: list[Path],
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    first = corpus_files[0]
    eng = migrated_engine
    async with running_daemon(settings), session(settings) as s:
        drop_file(first, settings.event_data_dir)
        await s.message("file.processed", file=first.name, wait=90)

        singles = _rows(
            eng,
            "SELECT c.id, min(e.id) AS member FROM canonical_events c "
            "JOIN source_events e ON e.canonical_id = c.id "
            "WHERE c.source_count = 1 GROUP BY c.id ORDER BY c.id LIMIT 4",
        )
        (p_id, p), (q_id, q), (_, r), (_, t) = [(row.id, row.member) for row in singles]

        # -- merge: a must-link, the survivor keeps its id, the other id redirects ----------
        mark = s.feed[-1]["seq"]
        merged = await s.call(
            "review.merge",
            {"source_canonical_id": p_id, "target_canonical_id": q_id, "operator": "alice"},
        )
        survivor, gone = merged["surviving_canonical_id"], merged["merged_canonical_id"]
        assert {survivor, gone} == {p_id, q_id}
        assert _canonical(eng, p, q) == [survivor, survivor]
        assert _constraint(eng, p, q) == "must_link"
        announced = await s.message("canonical.merged", canonical_id=survivor, merged=gone)
        assert announced["seq"] > mark
        detail = await s.call("events.get", {"id": gone})
        assert detail["redirected_from"] == gone and detail["canonical"]["id"] == survivor
        assert sorted(x["id"] for x in detail["sources"]) == sorted([p, q])
        assert detail["constraints"][0]["kind"] == "must_link"
        [audit] = await _audit(s, "alice")
        assert audit["action"] == "review.merge" and audit["params"]["source_canonical_id"] == p_id
        assert set(audit["before"]) == {str(p_id), str(q_id)}
        assert audit["after"]["canonicals"][str(survivor)]["members"] == sorted([p, q])

        # -- split it again: the newer decision about the same pair replaces the older -----
        split = await s.call(
            "review.split", {"canonical_id": gone, "source_event_id": p, "operator": "alice"}
        )
        # (ids stay stable by overlap; on a 1:1 tie the lower member keeps the old id)
        assert split["canonical_id"] != split["new_canonical_id"]
        assert survivor in (split["canonical_id"], split["new_canonical_id"])
        assert _canonical(eng, p, q) == [split["new_canonical_id"], split["canonical_id"]]
        assert _constraint(eng, p, q) == "cannot_link"
        await s.message(
            "canonical.split", source_event_id=p, new_canonical_id=split["new_canonical_id"]
        )

        # -- bob's work is his own: alice's undo walks back her operations only ------------
        kept = await s.call("review.keep_separate", {"a_id": q, "b_id": r, "operator": "bob"})
        assert kept["a_canonical_id"] != kept["b_canonical_id"]
        undone = await s.call("review.undo", {"operator": "alice"})
        assert undone["action"] == "review.split"
        assert len(set(_canonical(eng, p, q))) == 1  # back together
        assert _constraint(eng, p, q) == "must_link"
        undone = await s.call("review.undo", {"operator": "alice"})
        assert undone["action"] == "review.merge"
        assert len(set(_canonical(eng, p, q))) == 2
        assert _constraint(eng, p, q) is None
        assert (await s.error("review.undo", {"operator": "alice"}))["code"] == -32004
        history = await _audit(s, "alice")
        assert [h["action"] for h in history] == [
            "review.undo",
            "review.undo",
            "review.split",
            "review.merge",
        ]
        assert history[2]["undone_by"] == history[1]["id"]
        assert _constraint(eng, q, r) == "cannot_link"  # bob's constraint untouched

        # -- contradictory constraints are rejected and change nothing ----------------------
        m1 = await s.call(
            "review.merge",
            {
                "source_canonical_id": _canonical(eng, p)[0],
                "target_canonical_id": _canonical(eng, r)[0],
                "operator": "carol",
            },
        )
        assert len(set(_canonical(eng, p, r))) == 1
        # bob said q and r differ; must-linking q to p (and so to r) contradicts him
        before = _rows(eng, "SELECT count(*) AS n FROM audit_log")[0].n
        clash = await s.error(
            "review.merge",
            {
                "source_canonical_id": _canonical(eng, q)[0],
                "target_canonical_id": m1["surviving_canonical_id"],
                "operator": "carol",
            },
        )
        assert clash["code"] == -32009 and "contradictory" in clash["message"], clash
        assert _rows(eng, "SELECT count(*) AS n FROM audit_log")[0].n == before
        assert _constraint(eng, p, q) is None  # rolled back
        assert len(set(_canonical(eng, p, q))) == 2

        # -- split with a target: the event moves from one canonical to another ------------
        moved = await s.call(
            "review.split",
            {
                "canonical_id": _canonical(eng, p)[0],
                "source_event_id": p,
                "target_canonical_id": _canonical(eng, t)[0],
                "operator": "carol",
            },
        )
        cp, cr, ct = _canonical(eng, p, r, t)
        assert cp == ct == moved["new_canonical_id"] and cr == moved["canonical_id"] != cp
        assert (_constraint(eng, p, r), _constraint(eng, p, t)) == ("cannot_link", "must_link")
        await s.message("canonical.split", source_event_id=p, new_canonical_id=cp)

        # -- review items: keep separate by review id, dismiss, undo a dismissal ------------
        # (one file raises no question; three do)
        for more in corpus_files[1:3]:
            drop_file(more, settings.event_data_dir)
            await s.message("file.processed", file=more.name, wait=90)
        open_items = (await s.call("review.list", {"size": 50}))["items"]
        assert len(open_items) >= 2
        assert open_items == sorted(open_items, key=lambda i: -i["benefit"])
        assert all(0 < i["probability"] < 1 and i["signals"] and i["moves"] for i in open_items)
        first_item, second_item = open_items[0], open_items[1]
        assert first_item["events"] and first_item["kind"]
        a, b = first_item["event_ids"][0], first_item["event_ids"][-1]
        await s.call("review.keep_separate", {"review_id": first_item["id"], "operator": "erin"})
        resolved = await s.message("review.resolved", review_id=first_item["id"])
        assert resolved["data"]["action"] == "kept_separate"
        assert len(set(_canonical(eng, a, b))) == 2
        closed = (await s.call("review.list", {"state": "resolved", "size": 200}))["items"]
        assert first_item["id"] in [i["id"] for i in closed]

        dismissed = await s.call(
            "review.dismiss",
            {"review_id": second_item["id"], "reason": "same club, two events", "operator": "erin"},
        )
        assert dismissed == {"review_id": second_item["id"], "state": "dismissed"}
        await s.message("review.resolved", review_id=second_item["id"], state="dismissed")
        again = await s.error("review.dismiss", {"review_id": second_item["id"]})
        assert again["code"] == -32009
        assert (await s.call("review.undo", {"operator": "erin"}))["action"] == "review.dismiss"
        reopened = (await s.call("review.list", {"size": 200}))["items"]
        assert second_item["id"] in [i["id"] for i in reopened]

        # -- a cannot-link is respected by a LATER file that would re-link the pair --------
        pair = _rows(
            eng,
            "SELECT c.id, min(e.id) AS a, max(e.id) AS b FROM canonical_events c "
            "JOIN source_events e ON e.canonical_id = c.id "
            "WHERE c.source_count = 2 GROUP BY c.id ORDER BY c.id LIMIT 1",
        )[0]
        await s.call("review.keep_separate", {"a_id": pair.a, "b_id": pair.b, "operator": "erin"})
        assert len(set(_canonical(eng, pair.a, pair.b))) == 2
        later = "zzz_10.02.2026_copy.json"  # another source listing the same two events
        # (it also lists erin's pair, so that component is re-clustered as well)
        write_events(
            first, settings.event_data_dir, later, prefix="later-", only=[pair.a, pair.b, a, b]
        )
        await s.message("file.processed", file=later, wait=60)
        # and a later copy of erin's pair from the files it came from
        for n, origin in enumerate(f for f in corpus_files[:3] if f != first):
            copy = f"zzz_10.02.2026_copy{n}.json"
            write_events(origin, settings.event_data_dir, copy, prefix="later-", only=[a, b])
            await s.message("file.processed", file=copy, wait=60)
        ca, cb, cla, clb = _canonical(eng, pair.a, pair.b, "later-" + pair.a, "later-" + pair.b)
        assert ca != cb, "the later file re-linked a pair an operator kept separate"
        assert {cla, clb} <= {ca, cb}, "the copies should join their originals"
        # the question erin answered by review id is not asked again by re-clustering
        assert not _rows(
            eng,
            "SELECT id FROM review_items WHERE state = 'open' AND kind = :k "
            "AND a_id = :a AND b_id = :b",
            k=first_item["kind"],
            a=min(a, b),
            b=max(a, b),
        )

    # every mutating command wrote exactly one audit row
    actions = [r.action for r in _rows(eng, "SELECT action FROM audit_log ORDER BY id")]
    counts = {a: actions.count(a) for a in ("review.split", "review.merge", "review.undo")}
    assert counts == {"review.split": 2, "review.merge": 2, "review.undo": 3}
