from __future__ import annotations

import pytest

from eventdedup.matching import PairScore, assign_canonical_ids, cluster_component


def edge(a, b, decision="match", combined=0.9, reason=None):
    return PairScore(
        a,
        b,
        1.0,
        0.5,
        1.0,
        0.5,
        combined,
        decision,
        reason or f"{decision}: combined {combined:.2f}",
    )


def test_components_and_singletons(cfg):
    r = cluster_component(
        ["a", "b", "c", "d"], [edge("a", "b"), edge("c", "d", "ambiguous", 0.6)], [], [], cfg
    )
    assert r.clusters == (frozenset({"a", "b"}), frozenset({"c"}), frozenset({"d"}))
    assert r.repaired == ()


def test_cannot_link_splits_weakest_edge(cfg):
    edges = [
        edge("a", "b", combined=0.95),
        edge("b", "c", combined=0.80),
        edge("a", "c", combined=0.77),
    ]
    r = cluster_component(["a", "b", "c"], edges, [], [("a", "c")], cfg)
    assert r.clusters == (frozenset({"a", "b"}), frozenset({"c"}))
    assert r.repaired == (0, 1)


def test_strong_disagreement_acts_as_cannot_link(cfg):
    edges = [
        edge("a", "b"),
        edge("b", "c", combined=0.8),
        edge("a", "c", "no_match", 0.6, "different venues: 'x' vs 'y'"),
    ]
    r = cluster_component(["a", "b", "c"], edges, [], [], cfg)
    assert frozenset({"a", "c"}) not in r.clusters and len(r.clusters) == 2


def test_must_link_always_holds(cfg):
    r = cluster_component(["a", "b", "c"], [], [("a", "c")], [], cfg)
    assert frozenset({"a", "c"}) in r.clusters
    with pytest.raises(ValueError):
        cluster_component(["a", "b"], [], [("a", "b")], [("b", "a")], cfg)


def test_size_limit_and_date_spread(cfg):
    ids = [f"e{i:02d}" for i in range(20)]
    chain = [edge(ids[i], ids[i + 1], combined=0.9 - i / 100) for i in range(19)]
    r = cluster_component(ids, chain, [], [], cfg)
    assert max(len(c) for c in r.clusters) == cfg.cluster.max_cluster_size
    days = {f"d{i}": (f"2026-02-1{i}",) for i in range(5)}
    chain = [edge(f"d{i}", f"d{i + 1}") for i in range(4)]
    r = cluster_component(days, chain, [], [], cfg, days=days)
    assert max(len(c) for c in r.clusters) <= 3


def test_order_independent(cfg):
    edges = [edge("a", "b", combined=0.95), edge("b", "c", combined=0.80), edge("c", "d")]
    r1 = cluster_component(["d", "c", "b", "a"], edges, [], [("a", "c")], cfg)
    r2 = cluster_component(["a", "b", "c", "d"], list(reversed(edges)), [], [("c", "a")], cfg)
    assert r1 == r2


def test_canonical_ids_keep_merge_split():
    prev = {"a": 1, "b": 1, "c": 2, "d": 2, "e": 3}
    # 1 and 2 merge; e is split off nothing; f is new
    res = assign_canonical_ids([frozenset("abcd"), frozenset("e"), frozenset("f")], prev)
    assert res.assignments == ((frozenset("abcd"), 1), (frozenset("e"), 3), (frozenset("f"), None))
    assert res.merged == {2: 1} and res.created == (2,)
    # a canonical splits: the larger part keeps the id
    res = assign_canonical_ids([frozenset("ab"), frozenset("c")], {"a": 7, "b": 7, "c": 7})
    assert res.assignments == ((frozenset("ab"), 7), (frozenset("c"), None))
    assert res.split == {7: (1,)}
    # tie on overlap -> lower id wins
    res = assign_canonical_ids([frozenset("xy")], {"x": 5, "y": 4})
    assert res.assignments[0][1] == 4 and res.merged == {5: 4}
