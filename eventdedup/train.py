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
from eventdedup.matching.decision import model_decision, round4, rule_score
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.pairmodel import FEATURES, MODEL_FILE, MODEL_VERSION, PairModel, features
from eventdedup.synth.corpus import TRAIN_VOCAB_SEEDS, Spec, synthetic_corpus

log = logging.getLogger(__name__)
SHIPPED = Path(__file__).resolve().parent / "matching" / MODEL_FILE
#: one training corpus per vocabulary; generator seeds distinct from the benchmark's
TRAIN_SPECS: tuple[Spec, ...] = tuple(
    Spec(seed=5000 + n, vocab_seed=v, events=3000) for n, v in enumerate(TRAIN_VOCAB_SEEDS)
)
#: clustered pairwise precision the match threshold is chosen for (on the training corpora)
TARGET_PRECISION = 0.95
#: match thresholds tried; the ambiguous band starts at AMBIGUOUS_AT
MATCH_GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
AMBIGUOUS_AT = 0.2
C = 1.0


@attrs.frozen
class _Pair:
    a: str
    b: str
    x: tuple[float, ...]
    y: int
    combined: float
    decision: str
    reason: str


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
            x = features(date, geo, title, desc, comb, dist, decision, reason)
            y = int(corpus.truth[a] == corpus.truth[b])
            pairs.append(_Pair(a, b, x, y, round4(comb), decision, reason))
        out.append(_Corpus(records, corpus.truth, tuple(pairs)))
    return out


def clustered_quality(
    corpora: Sequence[_Corpus], model: PairModel, cfg: MatchingConfig
) -> tuple[float, float, float]:
    """Pairwise P, R, F1 of the clusters over all ``corpora`` (pooled counts)."""
    tp = fp = fn = 0
    for c in corpora:
        decisions = []
        for p in c.pairs:
            prob = round4(model.probability(p.x))
            decision, reason = model_decision(prob, p.decision, p.reason, model)
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
    # thresholds: the best clustered F1 at or above the target precision
    best: tuple[float, float, float, float] | None = None
    for match_at in MATCH_GRID:
        model = PairModel(MODEL_VERSION, FEATURES, coef, intercept, match_at, AMBIGUOUS_AT)
        prec, rec, f1 = clustered_quality(corpora, model, decides)
        log.info("match at %.2f: P %.4f R %.4f F1 %.4f", match_at, prec, rec, f1)
        if prec >= TARGET_PRECISION and (best is None or f1 > best[3]):
            best = (match_at, prec, rec, f1)
    if best is None:
        raise RuntimeError(f"no match threshold reaches precision {TARGET_PRECISION}")
    match_at, prec, rec, f1 = best
    return {
        "version": MODEL_VERSION,
        "features": list(FEATURES),
        "coef": list(coef),
        "intercept": intercept,
        "thresholds": {"match": match_at, "ambiguous": min(AMBIGUOUS_AT, match_at)},
        "training": {
            "estimator": f"sklearn LogisticRegression(C={C}, lbfgs, L2)",
            "corpora": [
                {
                    "seed": s.seed,
                    "vocab_seed": s.vocab_seed,
                    "events": s.events,
                    "hard": s.hard_rate,
                }
                for s in specs
            ],
            "pairs": len(ys),
            "positive_pairs": sum(ys),
            "target_precision": TARGET_PRECISION,
            "clustered": {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4)},
        },
    }


def render(model: dict[str, Any]) -> str:
    return json.dumps(model, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
