"""The review queue's rules: which questions exist, one per pair of clusters, in benefit order."""

from __future__ import annotations

import attrs

from eventdedup.matching import MatchingConfig, PairScore
from eventdedup.matching.logistic import fit, predict
from eventdedup.matching.review import MERGE, SPLIT, build_queue, pair_probability

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


def test_probability_rises_with_the_evidence_whatever_the_pair_model_says() -> None:
    weak, strong = edge("a", "b", title=0.2), edge("a", "b", title=1.0)
    assert 0 < pair_probability(weak) < pair_probability(strong) < 1
    assert pair_probability(edge("a", "b", "match")) > pair_probability(strong)
    # the queue's own calibration, not the pair model's P
    assert pair_probability(attrs.evolve(weak, probability=0.99)) == pair_probability(weak)


def test_one_merge_question_per_pair_of_clusters_the_likeliest_pair(cfg: MatchingConfig) -> None:
    clusters = [C({"a1", "a2"}), C({"b1", "b2", "b3"}), C({"c"})]
    edges = [
        edge("a1", "a2", "match"),
        edge("b1", "b2", "match"),
        edge("b2", "b3", "match"),
        edge("a1", "b1", title=0.7),
        edge("a2", "b3", title=0.95),  # the most likely pair across
        edge("a1", "c", title=0.1),  # too unlikely to ask
    ]
    [q] = build_queue(clusters, edges, cfg)
    assert (q.kind, q.a_id, q.b_id) == (MERGE, "a2", "b3")
    assert q.moved == 2 and q.left == ("a1", "a2") and q.right == ("b1", "b2", "b3")
    assert q.benefit == round(q.probability * 2, 4)
    assert q.to_json()["signals"]["title"] == 0.95


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
        edge("b", "c", "match", title=0.05, date=0.5, geo=0.5, combined=0.76),  # weakly held
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
        edge("a", "b", title=0.95),  # likely, moves 1
        edge("p1", "p2", "match"),
        edge("p2", "p3", "match"),
        edge("q1", "q2", "match"),
        edge("q2", "q3", "match"),
        edge("p1", "q1", title=0.6),  # less likely, moves 3
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
