"""``eventdedup train``: fit the pair model on labelled pairs of synthetic corpora.

Deterministic: the corpora come from fixed seeds (base vocabulary plus the
generated ``TRAIN_VOCAB_SEEDS``, never the held-out ones or the dev sample),
scikit-learn's L2 logistic regression (lbfgs) is deterministic, and the
output is rounded and written with sorted keys, so the shipped
``pair_model.json`` is reproduced byte for byte. Needs the ``train`` extra
(``uv sync --extra train``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from eventdedup.matching import (
    EventRecord,
    PairScore,
    candidate_pairs,
    evaluate_clusters,
    load_matching_config,
    prepare_event,
)
from eventdedup.matching.batch import cluster_records
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import (
    AMBIGUOUS,
    MATCH,
    model_decision,
    overrulable,
    promotable,
    round4,
    rule_score,
    structure,
)
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.pairmodel import FEATURES, MODEL_FILE, MODEL_VERSION, PairModel, features
from eventdedup.synth.corpus import TRAIN_VOCAB_SEEDS, Spec, synthetic_corpus

log = logging.getLogger(__name__)
SHIPPED = Path(__file__).resolve().parent / "matching" / MODEL_FILE
#: one training corpus per vocabulary; generator seeds distinct from the benchmark's
TRAIN_SPECS: tuple[Spec, ...] = tuple(
    Spec(seed=5000 + n, vocab_seed=v, events=3000) for n, v in enumerate(TRAIN_VOCAB_SEEDS)
)
#: precision an ambiguous pair promoted to a match must have (on the training pairs)
PROMOTE_PRECISION = 0.99
#: precision a pair held apart only by a town/distance guard must have to be merged
OVERRULE_PRECISION = 0.97
#: a rule match is demoted below the highest of these P where at most this share is true
DEMOTE_GRID = (0.0, 0.05, 0.1, 0.2)
DEMOTE_MAX_TRUE = 0.5
#: ... and only where at least this many training matches lie below it (fewer say nothing)
DEMOTE_MIN_PAIRS = 50
C = 1.0
#: positions of the title signal and of the (scaled) title key words in the features
TITLE, WORDS = FEATURES.index("title"), FEATURES.index("title_words")


@attrs.frozen
class _Pair:
    a: str
    b: str
    x: tuple[float, ...]
    y: int
    combined: float
    decision: str
    reason: str
    place_only: bool  # only a town/distance guard objects (the model may overrule it)


@attrs.frozen
class _Corpus:
    records: dict[str, EventRecord]
    truth: dict[str, str]
    pairs: tuple[_Pair, ...]


def labelled_corpora(specs: Sequence[Spec], cfg: MatchingConfig) -> list[_Corpus]:
    """Every candidate pair of ``specs`` with its features, label and rule outcome."""
    out = []
    for spec in specs:
        clear_caches()
        corpus = synthetic_corpus(spec)
        records = {e.id: prepare_event(e, cfg) for e in corpus.events}
        pairs = []
        for a, b in candidate_pairs([records[i] for i in sorted(records)], [], cfg):
            date, geo, title, desc, comb, decision, reason, dist = rule_score(
                records[a], records[b], cfg
            )
            ra, rb = records[a], records[b]
            x = features(
                date, geo, title, desc, comb, dist, decision, reason, *structure(ra, rb, date, cfg)
            )
            y = int(corpus.truth[a] == corpus.truth[b])
            place_only = overrulable(ra, rb, cfg, reason, dist, date, title)
            pairs.append(_Pair(a, b, x, y, round4(comb), decision, reason, place_only))
        out.append(_Corpus(records, corpus.truth, tuple(pairs)))
    return out


def _lowest_for_precision(scored: list[tuple[float, int]], target: float) -> float:
    """Lowest P such that the pairs at or above it reach ``target`` precision (1.0: none)."""
    best, tp = 1.0, 0
    ranked = sorted(scored, key=lambda s: -s[0])
    for i, (p, y) in enumerate(ranked):
        tp += y
        last_of_tie = i + 1 == len(ranked) or ranked[i + 1][0] != p
        if last_of_tie and tp / (i + 1) >= target:
            best = p
    return best


def _share_true_below(scored: list[tuple[float, int]], t: float) -> float:
    below = [y for p, y in scored if p < t]
    return sum(below) / len(below) if below else 0.0


def clustered_quality(
    corpora: Sequence[_Corpus], model: PairModel, cfg: MatchingConfig
) -> tuple[float, float, float]:
    """Pairwise P, R, F1 of the clusters over all ``corpora`` (pooled counts)."""
    tp = fp = fn = 0
    for c in corpora:
        decisions = []
        for p in c.pairs:
            prob = round4(model.probability(p.x))
            decision, reason = model_decision(
                prob,
                p.decision,
                p.reason,
                model,
                p.place_only,
                p.x[0] <= 0.0,
                promotable(c.records[p.a], c.records[p.b], p.x[TITLE], round(p.x[WORDS] * 4), cfg),
            )
            decisions.append(
                PairScore(p.a, p.b, 0, 0, 0, 0, p.combined, decision, reason, probability=prob)
            )
        result = cluster_records(c.records, decisions, cfg)
        q = evaluate_clusters(result.clusters, c.truth)
        tp += int(q["correct_pairs"])
        fp += int(q["predicted_pairs"] - q["correct_pairs"])
        fn += int(q["true_pairs"] - q["correct_pairs"])
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    return prec, rec, 2 * prec * rec / (prec + rec) if prec + rec else 0.0


def train(specs: Sequence[Spec] = TRAIN_SPECS) -> dict[str, Any]:
    """The model file's content (a plain, JSON-ready dict)."""
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    cfg = load_matching_config(None)
    corpora = labelled_corpora(specs, cfg)
    decides = attrs.evolve(cfg, model=attrs.evolve(cfg.model, enabled=True))
    xs = [p.x for c in corpora for p in c.pairs]
    ys = [p.y for c in corpora for p in c.pairs]
    lr = LogisticRegression(C=C, max_iter=5000, tol=1e-8)
    lr.fit(xs, ys)
    coef = tuple(round(float(c), 6) for c in lr.coef_[0])
    intercept = round(float(lr.intercept_[0]), 6)
    draft = PairModel(MODEL_VERSION, FEATURES, coef, intercept, 1.0, 0.0, 1.0)
    scored = [(round4(draft.probability(p.x)), p) for c in corpora for p in c.pairs]
    # each revision of a rule decision must itself be right at its target precision
    match_at = _lowest_for_precision(
        [(q, p.y) for q, p in scored if p.decision == AMBIGUOUS and p.x[0] > 0], PROMOTE_PRECISION
    )
    overrule_at = _lowest_for_precision(
        [(q, p.y) for q, p in scored if p.place_only and p.x[0] > 0], OVERRULE_PRECISION
    )
    demoted = [(q, p.y) for q, p in scored if p.decision == MATCH]
    demote = max(
        (
            t
            for t in DEMOTE_GRID
            if t == 0.0
            or (
                sum(1 for q, _ in demoted if q < t) >= DEMOTE_MIN_PAIRS
                and _share_true_below(demoted, t) <= DEMOTE_MAX_TRUE
            )
        ),
        default=0.0,
    )
    model = PairModel(MODEL_VERSION, FEATURES, coef, intercept, match_at, demote, overrule_at)
    prec, rec, f1 = clustered_quality(corpora, model, decides)
    return {
        "version": MODEL_VERSION,
        "features": list(FEATURES),
        "coef": list(coef),
        "intercept": intercept,
        "thresholds": {"match": match_at, "demote": demote, "overrule": overrule_at},
        "training": {
            "estimator": f"sklearn LogisticRegression(C={C}, lbfgs, L2)",
            "corpora": [s.describe() for s in specs],
            "pairs": len(ys),
            "positive_pairs": sum(ys),
            "promote_precision": PROMOTE_PRECISION,
            "overrule_precision": OVERRULE_PRECISION,
            "clustered": {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4)},
        },
    }


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
