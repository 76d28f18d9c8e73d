"""The commit stage's rows, formatted by hand for COPY, read back as they were written."""

from __future__ import annotations

import json

import attrs
import sqlalchemy as sa

from eventdedup import testing
from eventdedup.db import outbox
from eventdedup.db.ahead import SCORE_ONLY_FIELDS, decision_line
from eventdedup.db.dedup import (
    _insert_canonicals,
    _insert_decisions,
    _load_canonicals,
    _update_canonicals,
    score_from_row,
)
from eventdedup.matching import PairScore, dedupe_batch, load_matching_config

AWKWARD = 'tab\there, new\nline, CR\r, back\\slash, "quoted", ümlaut, \\N, €'


def _score(n: int, text: str = "match: combined 0.91") -> PairScore:
    return PairScore(
        a_id=f"a\\{n:04d}",
        b_id=f"b\t{n:04d}",
        date=1.0,
        geo=0.1 * (n % 7),
        title=1 / 3,
        description=0.0,
        combined=0.5 + n / 10_000,
        decision=("match", "ambiguous", "no_match")[n % 3],
        reason=text,
        tier="deterministic",
        probability=-1.0 if n % 2 else 0.987654321,
        model_version="" if n % 2 else "pm-2",
    )


def test_a_decision_line_holds_every_field_of_the_score() -> None:
    s = _score(7, AWKWARD)
    a, b, decision, combined, score = decision_line(s).split("\t")
    assert (a, b) == (s.a_id.replace("\\", "\\\\"), s.b_id.replace("\t", "\\t"))
    assert (decision, float(combined)) == (s.decision, s.combined)
    unescaped = json.loads(score.replace("\\\\", "\\"))
    assert unescaped == {f: getattr(s, f) for f in SCORE_ONLY_FIELDS}


def test_decisions_read_back_equal_across_copy_chunks(migrated_engine: sa.Engine) -> None:
    scores = [
        _score(n, AWKWARD if n % 50 == 0 else f"ambiguous: combined 0.{n}") for n in range(700)
    ]
    with migrated_engine.begin() as conn:
        _insert_decisions(conn, scores)
        rows = conn.execute(
            sa.text(
                "SELECT a_id, b_id, decision, combined, score FROM match_decisions ORDER BY a_id"
            )
        ).all()
    assert [score_from_row(r) for r in rows] == sorted(scores, key=lambda s: s.a_id)


def test_canonicals_copied_and_updated_read_back_equal(migrated_engine: sa.Engine) -> None:
    cfg = load_matching_config(None)
    events = next(iter(testing.load_corpus(testing.SAMPLE_CORPUS).values()))[:40]
    canonicals = list(dedupe_batch(events, cfg).canonicals)
    awkward = [
        attrs.evolve(canonicals[0], title=AWKWARD, description=AWKWARD, categories=("a\\b", "c")),
        attrs.evolve(canonicals[1], location_city=None, match_confidence=None, first_date=None),
        *canonicals[2:],
    ]
    with migrated_engine.begin() as conn:
        ids = _insert_canonicals(conn, awkward)
        assert _load_canonicals(conn, ids) == dict(zip(ids, awkward, strict=True))
        columns = conn.execute(
            sa.text(
                "SELECT title, location_city, first_date, categories, match_confidence "
                "FROM canonical_events WHERE id = ANY(:ids) ORDER BY id"
            ),
            {"ids": ids[:2]},
        ).all()
        assert [tuple(r) for r in columns] == [
            (
                c.title,
                c.location_city,
                c.first_date,
                list(c.categories),
                c.match_confidence,
            )
            for c in awkward[:2]
        ]
        changed = {ids[0]: attrs.evolve(awkward[1], version=2), ids[1]: awkward[0]}
        _update_canonicals(conn, changed)
        assert _load_canonicals(conn, ids[:2]) == changed


def test_outbox_appends_a_batch_in_order_with_its_data(migrated_engine: sa.Engine) -> None:
    first = [("file.accepted", {"file": AWKWARD, "size": 3})]
    more = [(f"kind.{n}", {"n": n, 7: [1.5, None, True], "text": AWKWARD}) for n in range(300)]
    with migrated_engine.begin() as conn:
        assert outbox.append(conn, first) == [1]
        assert outbox.append(conn, more) == list(range(2, 302))
        assert outbox.append(conn, []) == []
    with migrated_engine.connect() as conn:
        got = outbox.fetch_after(conn, 0, limit=1000)
    assert [m.seq for m in got] == list(range(1, 302))
    assert [(m.type, m.data) for m in got] == [
        ("file.accepted", {"file": AWKWARD, "size": 3}),
        *((f"kind.{n}", {"n": n, "7": [1.5, None, True], "text": AWKWARD}) for n in range(300)),
    ]
