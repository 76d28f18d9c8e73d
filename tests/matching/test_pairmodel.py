"""The pair model: shipped file, code version and ``eventdedup train`` agree; P per pair; repair."""

from __future__ import annotations

import itertools
import json
import random

import attrs
import pytest

from eventdedup.matching import (
    PairScore,
    candidate_pairs,
    cluster_component,
    load_matching_config,
    prepare_event,
    score_pair,
)
from eventdedup.matching.clustering import strong_disagreement
from eventdedup.matching.decision import (
    AMBIGUOUS,
    MATCH,
    NO_MATCH,
    NOT_NEEDED,
    model_decision,
    overrulable,
    p_cannot_matter,
    pair_features,
)
from eventdedup.matching.pairmodel import (
    FEATURES,
    MODEL_VERSION,
    PairModel,
    PairModelError,
    features,
    load_shipped_model,
)
from eventdedup.testing import load_corpus
from eventdedup.train import SHIPPED, render, train

CFG = load_matching_config(None)
MODEL_ON = attrs.evolve(CFG, model=attrs.evolve(CFG.model, enabled=True))
RULES = attrs.evolve(CFG, model=attrs.evolve(CFG.model, enabled=False))


def test_shipped_model_is_the_codes_version() -> None:
    model = load_shipped_model()
    assert model.version == MODEL_VERSION
    assert model.features == FEATURES
    assert 0.0 <= model.demote_below < model.match_at <= 1.0
    assert 0.0 < model.overrule_at <= 1.0


def _close(a: object, b: object, path: str = "") -> list[str]:
    """Where two JSON values differ, numbers beyond 1e-3 (absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        return [d for k in a for d in _close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} != {len(b)} items"]
        return [
            d
            for n, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _close(x, y, f"{path}[{n}]")
        ]
    both_numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if both_numbers:
        return [] if abs(float(a) - float(b)) <= 1e-3 else [f"{path}: {a} != {b}"]  # type: ignore[arg-type]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_train_reproduces_the_shipped_file() -> None:
    """Retraining gives the shipped model: the same structure, features, version and
    training facts, the numbers to 1e-3.  Not byte for byte: the solver's sums go through
    the machine's BLAS, whose kernels differ by CPU (two machines of this
    workplace agreed to ~1e-4 on the coefficients)."""
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    retrained = json.loads(render(train()))
    assert _close(retrained, shipped) == []


def test_a_model_file_with_other_features_is_rejected() -> None:
    data = {
        "version": MODEL_VERSION,
        "features": ["date"],
        "coef": [1.0],
        "intercept": 0.0,
        "thresholds": {"match": 0.5, "demote": 0.1, "overrule": 0.6},
    }
    with pytest.raises(PairModelError, match="features"):
        PairModel.from_json(data)
    with pytest.raises(PairModelError, match="malformed"):
        PairModel.from_json({"version": MODEL_VERSION})


def test_every_decision_carries_a_symmetric_probability_and_the_model_version() -> None:
    events = [e for evs in load_corpus().values() for e in evs][:600]
    records = {e.id: prepare_event(e, CFG) for e in events}
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], CFG)
    assert len(pairs) > 100
    skipped = 0
    for a, b in pairs:
        s = score_pair(records[a], records[b], CFG)
        t = score_pair(records[b], records[a], CFG)
        assert s == t
        if s.probability == NOT_NEEDED:
            # P could change nothing: a no-match that stands and keeps the two apart
            skipped += 1
            ra, rb = records[s.a_id], records[s.b_id]
            assert s.decision == NO_MATCH
            assert p_cannot_matter(ra, rb, s.reason, s.combined, s.title, s.date, CFG)
            assert strong_disagreement(s, CFG)
        else:
            assert 0.0 <= s.probability <= 1.0
        assert s.model_version == MODEL_VERSION
        assert PairScore.from_json(s.to_json()) == s
    assert 0 < skipped < len(pairs)


def test_where_p_is_not_computed_it_would_change_nothing() -> None:
    events = [e for evs in load_corpus().values() for e in evs][:600]
    records = {e.id: prepare_event(e, CFG) for e in events}
    model = load_shipped_model()
    for a, b in candidate_pairs([records[i] for i in sorted(records)], [], CFG):
        s = score_pair(records[a], records[b], CFG)
        if s.probability != NOT_NEEDED:
            continue
        x = pair_features(records[a], records[b], CFG)
        p = model.probability(x)
        place_only = overrulable(records[a], records[b], CFG, s.reason, None, s.date, s.title)
        for promote in (False, True):
            assert model_decision(p, s.decision, s.reason, model, place_only, False, promote) == (
                s.decision,
                s.reason,
            )
        hypothetical = attrs.evolve(s, probability=round(p, 4))
        assert strong_disagreement(hypothetical, CFG)


def test_decisions_stored_before_the_model_read_back_without_a_probability() -> None:
    old = {
        "a_id": "a",
        "b_id": "b",
        "date": 1.0,
        "geo": 0.5,
        "title": 0.9,
        "description": 0.5,
        "combined": 0.8,
        "decision": MATCH,
        "reason": "match: combined 0.80",
        "tier": "deterministic",
    }
    s = PairScore.from_json(old)
    assert s.probability == -1.0 and s.model_version == ""


def test_p_revises_the_rule_decision_and_only_town_guards_can_be_overruled() -> None:
    m = PairModel(MODEL_VERSION, FEATURES, (0.0,) * len(FEATURES), 0.0, 0.9, 0.1, 0.6)
    assert model_decision(0.95, AMBIGUOUS, "ambiguous: combined 0.60", m)[0] == MATCH
    assert model_decision(0.8, AMBIGUOUS, "ambiguous: combined 0.60", m)[0] == AMBIGUOUS
    assert model_decision(0.05, MATCH, "match: combined 0.80", m)[0] == AMBIGUOUS
    assert model_decision(0.5, MATCH, "match: combined 0.80", m)[0] == MATCH
    assert model_decision(0.99, NO_MATCH, "no match: combined 0.30", m)[0] == NO_MATCH
    towns = "different towns: x vs y"
    assert model_decision(0.7, NO_MATCH, towns, m, place_only=True)[0] == MATCH
    assert model_decision(0.5, NO_MATCH, towns, m, place_only=True) == (NO_MATCH, towns)
    assert model_decision(0.99, NO_MATCH, towns, m, place_only=False) == (NO_MATCH, towns)
    speakers = "different speakers: 'x' vs 'y'"
    assert model_decision(0.99, NO_MATCH, speakers, m) == (NO_MATCH, speakers)


def _edge(a: str, b: str, decision: str, p: float, combined: float = 0.8) -> PairScore:
    reason = "match: combined" if decision == MATCH else "no match: combined"
    return PairScore(a, b, 1, 1, 1, 1, combined, decision, reason, probability=p)


@pytest.mark.parametrize("n", [10, 14])
def test_a_chain_of_many_listings_is_cut_where_the_model_is_sure_they_differ(n: int) -> None:
    ids = [f"e{i:02d}" for i in range(n)]
    # a chain e00 - e01 - ... ; the weakest link sits in the middle
    edges = [
        _edge(x, y, MATCH, 0.7 if i == n // 2 - 1 else 0.95)
        for i, (x, y) in enumerate(itertools.pairwise(ids))
    ]
    # the two ends: the model is confident they are different events
    edges.append(_edge(ids[0], ids[-1], NO_MATCH, 0.01, combined=0.5))
    whole = cluster_component(ids, edges, [], [], RULES)  # model off: P is not a constraint
    assert whole.clusters == (frozenset(ids),)
    cut = cluster_component(ids, edges, [], [], MODEL_ON)
    assert len(cut.clusters) == 2
    assert not any(ids[0] in c and ids[-1] in c for c in cut.clusters)
    assert {len(c) for c in cut.clusters} == {n // 2}, "split at the least probable link"
    # decisions stored before the model (P -1) never act as a constraint
    legacy = [attrs.evolve(e, probability=-1.0) if e.decision == NO_MATCH else e for e in edges]
    assert cluster_component(ids, legacy, [], [], MODEL_ON).clusters == (frozenset(ids),)


def test_the_hot_path_equals_the_feature_definition() -> None:
    model = load_shipped_model()
    rng = random.Random(5)
    reasons = [
        "match: combined 0.80",
        "ambiguous: combined 0.60",
        "no match: combined 0.20",
        "vetoed: title 0.40 < 0.45",
        "match: key words 0.95 covered, same day and place (ambiguous: combined 0.6)",
        "different towns: a vs b",
        "far apart: 4.1 km",
        "place 'x' named in one listing",
        "different streets: 'a' vs 'b'",
        "different venues: 'a' vs 'b'",
        "distinguishing token: 'a' vs 'b'",
        "different names after 'x'",
        "different speakers: 'a' vs 'b'",
        "different parties: 'a' vs 'b'",
    ]
    for _ in range(3000):
        args = (
            rng.choice((0.0, 0.1, 0.5, 1.0, rng.random())),
            rng.random(),
            rng.choice((1.0, 0.98, rng.random())),
            rng.random(),
            rng.random(),
            rng.choice((None, 0.0, rng.uniform(0, 30))),
            rng.choice((MATCH, AMBIGUOUS, NO_MATCH)),
            rng.choice(reasons),
            rng.random() < 0.5,
            rng.randrange(0, 8),
            rng.random() < 0.3,
            rng.random() < 0.3,
        )
        assert model.score(*args) == pytest.approx(model.probability(features(*args)), abs=1e-12)
