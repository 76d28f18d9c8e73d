"""``eventdedup train review``: fit the review queue's calibration on synthetic corpora.

The rows are exactly the pairs a question can be about (``merge_questions``
and ``split_candidates`` of :mod:`eventdedup.matching.review` over the
engine's own clusters), labelled by the generator's truth.  The corpora are synthetic only —
the base vocabulary and the generated ``TRAIN_VOCAB_SEEDS``, each without and
with hard look-alikes — never the held-out vocabularies or the dev sample,
which stay checks.  Deterministic (fixed seeds, plain Newton iterations,
rounded weights, sorted keys), so the shipped
``eventdedup/matching/review_calibration.json`` is reproduced byte for byte.
The calibration takes the pair model's P as an input: rerun this after
retraining the pair model.  Needs nothing beyond the daemon's dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import PairScore
from eventdedup.matching.logistic import fit
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.review import (
    CALIBRATION_FILE,
    FEATURES,
    MERGE,
    SPLIT,
    merge_questions,
    pair_features,
    split_candidates,
)
from eventdedup.model import SourceEvent
from eventdedup.synth.corpus import TRAIN_VOCAB_SEEDS, Spec, synthetic_corpus

SHIPPED = Path(__file__).resolve().parent / "matching" / CALIBRATION_FILE
#: hard look-alike rates of the training corpora (none, and more than the named corpora)
HARD_RATES = (0.0, 0.08)
TRAIN_SPECS: tuple[Spec, ...] = tuple(
    Spec(seed=6000 + n, vocab_seed=v, events=3000, hard_rate=h)
    for n, v in enumerate(TRAIN_VOCAB_SEEDS)
    for h in HARD_RATES
)
L2 = 1.0

Row = tuple[tuple[float, ...], bool, str]  # features, same event, question kind


def queue_rows(
    events: Sequence[SourceEvent], truth: dict[str, str], cfg: MatchingConfig
) -> list[Row]:
    """Every pair a merge question may be about, with its features and whether it is true."""
    result = dedupe_batch(events, cfg)
    rows: list[Row] = []

    def same(e: PairScore) -> bool:
        return truth.get(e.a_id) is not None and truth.get(e.a_id) == truth.get(e.b_id)

    for ca, cb, candidates, contested in merge_questions(result.clusters, result.decisions, cfg):
        sizes = (len(ca), len(cb))
        rows.extend((pair_features(e, sizes, contested), same(e), MERGE) for e in candidates)
    for c, _, links in split_candidates(result.clusters, result.decisions):
        rows.extend((pair_features(e, (len(c) - 1, 1)), same(e), SPLIT) for e in links)
    return rows


def train(specs: Sequence[Spec] = TRAIN_SPECS) -> dict[str, Any]:
    """The calibration file's content (a plain, JSON-ready dict)."""
    cfg = load_matching_config(None)
    rows: list[Row] = []
    for spec in specs:
        clear_caches()
        corpus = synthetic_corpus(spec)
        rows.extend(queue_rows(corpus.events, corpus.truth, cfg))
    # the links inside clusters outnumber the merge candidates ~20:1; both kinds of
    # question weigh the same in the fit, so neither drowns the other
    count = {k: sum(r[2] == k for r in rows) or 1 for k in (MERGE, SPLIT)}
    share = [count[MERGE] / count[kind] if kind == SPLIT else 1.0 for _, _, kind in rows]
    weights = fit([x for x, _, _ in rows], [y for _, y, _ in rows], l2=L2, sample_weight=share)
    return {
        "features": list(FEATURES),
        "weights": [round(w, 4) for w in weights],
        "training": {
            "estimator": f"L2 logistic regression (l2={L2}, Newton), eventdedup.matching.logistic",
            "rows": "the pairs a question may be about (review.merge_questions, split_candidates)",
            "corpora": [s.describe() for s in specs],
            "merge_pairs": count[MERGE],
            "split_pairs": count[SPLIT],
            "positive_pairs": sum(y for _, y, _ in rows),
        },
    }


def render(calibration: dict[str, Any]) -> str:
    return json.dumps(calibration, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
