"""The review queue's rules: which questions exist, one per pair of clusters, in benefit order."""

from __future__ import annotations

import json

import attrs
import pytest

from eventdedup.matching import MatchingConfig, PairScore
from eventdedup.matching.logistic import fit, predict
from eventdedup.matching.review import (
    CALIBRATION,
    FEATURES,
    MERGE,
    SPLIT,
    SURE,
    CalibrationError,
    build_queue,
    load_calibration,
    pair_features,
    pair_probability,
    signal_features,
    signals,
)

C = frozenset


def edge(a: str, b: str, decision: str = "ambiguous", title: float = 0.9, **kw: float) -> PairScore:
    """A pair with every signal high except as given (P(same) follows ``title``)."""
    values = {"date": 1.0, "geo": 1.0, "description": 0.5, "combined": 0.7} | kw
    return PairScore(
        a,
        b,
        values["date"],
        values["geo"],
        title,
        values["description"],
        values["combined"],
        decision,
        f"{decision}: combined {values['combined']:.2f}",
    )


def test_probability_rises_with_the_evidence_and_the_pair_models_p() -> None:
    weak, strong = edge("a", "b", title=0.2), edge("a", "b", title=1.0)
    assert 0 < pair_probability(weak) < pair_probability(strong) < 1
    assert pair_probability(edge("a", "b", "match")) > pair_probability(strong)
    assert pair_probability(attrs.evolve(weak, probability=0.9)) > pair_probability(weak)
    assert pair_probability(attrs.evolve(weak, probability=0.1)) < pair_probability(weak)


def test_different_days_places_and_two_corroborated_clusters_lower_it() -> None:
    base = edge("a", "b", title=0.9, date=0.5, geo=0.5)
    p = pair_probability(base)
    assert pair_probability(attrs.evolve(base, date=0.0)) < p
    assert pair_probability(attrs.evolve(base, geo=0.0)) < p
    # two clusters that each hold several listings already
    assert pair_probability(base, sizes=(3, 2)) < pair_probability(base, sizes=(3, 1)) == p


def test_signals_carry_what_the_calibration_needs() -> None:
    e = attrs.evolve(edge("a", "b", title=0.7), probability=0.8)
    stored = signals(e, (2, 1))
    assert stored["probability"] == 0.8 and stored["sizes"] == [2, 1]
    assert signal_features(stored) == pair_features(e, (2, 1))
    # an item stored before P and sizes were kept reads back as "no evidence either way"
    old = {k: v for k, v in stored.items() if k not in ("probability", "sizes")}
    assert signal_features(old) == pair_features(attrs.evolve(e, probability=-1.0))


def test_a_pair_the_calibration_is_sure_of_is_not_asked(cfg: MatchingConfig) -> None:
    clusters = [C({"a"}), C({"b"})]
    sure = attrs.evolve(edge("a", "b", title=1.0, description=1.0), probability=0.999)
    assert pair_probability(sure) >= SURE
    assert build_queue(clusters, [sure], cfg) == []
    assert len(build_queue(clusters, [sure], cfg, sure=1.01)) == 1


def test_the_shipped_calibration_is_the_codes_features() -> None:
    assert len(CALIBRATION) == len(FEATURES)
    text = json.dumps({"features": ["bias"], "weights": [0.0]})
    with pytest.raises(CalibrationError, match="train review"):
        load_calibration(text)


def test_one_merge_question_per_pair_of_clusters_the_likeliest_pair(cfg: MatchingConfig) -> None:
    clusters = [C({"a"}), C({"b1", "b2", "b3"}), C({"c"})]
    edges = [
        edge("b1", "b2", "match"),
        edge("b2", "b3", "match"),
        edge("a", "b1", title=0.7),
        edge("a", "b3", title=0.95),  # the most likely pair across
    ]
    [q] = build_queue(clusters, edges, cfg)
    assert (q.kind, q.a_id, q.b_id) == (MERGE, "a", "b3")
    assert not q.contested and q.to_json()["signals"]["contested"] is False
    assert q.moved == 1 and q.left == ("a",) and q.right == ("b1", "b2", "b3")
    assert q.benefit == round(q.probability, 4)
    assert q.to_json()["signals"]["title"] == 0.95
    assert q.to_json()["signals"]["sizes"] == [1, 3]


def test_a_cluster_that_could_also_join_a_third_is_contested(cfg: MatchingConfig) -> None:
    clusters = [C({"a"}), C({"b"}), C({"c"}), C({"d"}), C({"e"})]
    edges = [edge("a", "b"), edge("d", "e")]
    [alone, _] = build_queue(clusters, edges, cfg, min_doubt=0.0, sure=1.01)
    assert not alone.contested
    # a third cluster, however unlikely, that "a" could also join
    contested = build_queue(clusters, [*edges, edge("a", "c", title=0.1)], cfg, min_doubt=0.0)
    ab = next(q for q in contested if q.key == alone.key)
    assert ab.contested and ab.to_json()["signals"]["contested"] is True
    assert ab.probability < alone.probability  # the fitted weight is negative
    assert ab.probability == pair_probability(ab.score, sizes=(1, 1), contested=True)
    # "d"–"e" has no third cluster: unchanged
    de = next(q for q in contested if q.a_id == "d")
    assert not de.contested
    # a third cluster the rules would not let it join (cannot-link) does not contest it
    blocked = build_queue(
        clusters, [*edges, edge("a", "c")], cfg, cannot_link=[("a", "c")], min_doubt=0.0
    )
    assert not next(q for q in blocked if q.key == alone.key).contested


def test_no_question_where_the_answer_cannot_change_the_clustering(cfg: MatchingConfig) -> None:
    clusters = [C({"a"}), C({"b"}), C({"c"}), C({"d"})]
    edges = [edge("a", "b"), edge("c", "d")]
    assert len(build_queue(clusters, edges, cfg)) == 2
    # an operator's cannot-link: merging is impossible
    assert [q.a_id for q in build_queue(clusters, edges, cfg, cannot_link=[("b", "a")])] == ["c"]
    # a strong disagreement between the two clusters
    blocked = [*edges, edge("c", "d", "no_match", combined=0.2)]
    assert [q.a_id for q in build_queue(clusters, blocked, cfg)] == ["a"]
    # over the size limit
    big = [C({f"x{i}" for i in range(cfg.cluster.max_cluster_size)}), C({"y"})]
    assert build_queue(big, [edge("x0", "y")], cfg) == []


def test_a_doubtful_member_is_one_split_question_per_cluster(cfg: MatchingConfig) -> None:
    cluster = C({"a", "b", "c"})
    edges = [
        edge("a", "b", "match"),
        # weakly held: the pair model doubts the rules' match
        attrs.evolve(
            edge("b", "c", "match", title=0.05, date=0.5, geo=0.5, combined=0.76), probability=0.1
        ),
    ]
    [q] = build_queue([cluster], edges, cfg)
    assert (q.kind, q.a_id, q.b_id, q.moved) == (SPLIT, "c", "b", 1)
    assert q.to_json()["event_ids"] == ["b", "c"]  # side B is what a split takes out
    assert q.benefit == round(1 - q.probability, 4)
    # an operator put it there: not asked
    assert build_queue([cluster], edges, cfg, must_link=[("c", "b")]) == []


def test_order_is_expected_benefit(cfg: MatchingConfig) -> None:
    clusters = [C({"a"}), C({"b"}), C({"p1", "p2", "p3"}), C({"q1", "q2", "q3"})]
    edges = [
        edge("a", "b", title=1.0, description=1.0),  # likely, moves 1
        edge("p1", "p2", "match"),
        edge("p2", "p3", "match"),
        edge("q1", "q2", "match"),
        edge("q2", "q3", "match"),
        # less likely (two corroborated clusters), moves 3
        attrs.evolve(edge("p1", "q1", title=1.0, description=1.0), probability=0.99),
    ]
    queue = build_queue(clusters, edges, cfg)
    assert [q.a_id for q in queue] == ["p1", "a"]
    assert queue[0].probability < queue[1].probability
    assert [q.benefit for q in queue] == sorted((q.benefit for q in queue), reverse=True)


def test_logistic_fit_recovers_a_separating_direction_and_stays_near_its_prior() -> None:
    rows = [(1.0, x / 10) for x in range(11)]
    labels = [x >= 5 for x in range(11)]
    w = fit(rows, labels, l2=0.01)
    assert predict(w, (1.0, 0.9)) > 0.9 and predict(w, (1.0, 0.1)) < 0.1
    prior = [0.0, 0.0]
    pulled = fit(rows[:2], labels[:2], l2=100.0, start=prior)
    assert all(abs(v) < 0.1 for v in pulled)
