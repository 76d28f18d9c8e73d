"""The learned resolver's model: the shipped calibration, refitted on operators' answers.

Pure: examples (a pair's signals and the operator's answer) in, weights out.
The fit is pulled towards the shipped calibration (``review.CALIBRATION``), so
a handful of answers nudge it and many answers move it.

It acts only where it has earned it (:meth:`LearnedModel.earned`): refitted
without each fold of the operators' answers, the answers of that fold it is
at least as sure of as it would act on must agree with the operators at a
rate whose lower confidence bound reaches that confidence.  With every such
answer right, that takes 25 of them at 0.9; few answers earn nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from eventdedup.matching.logistic import fit, predict
from eventdedup.matching.review import CALIBRATION, signal_features

#: How strongly the fit is pulled towards the shipped calibration.
PRIOR_STRENGTH = 0.5
#: Folds of the cross-validation (fewer answers: one fold per answer, leave-one-out).
FOLDS = 10
#: One-sided 95 % normal quantile: the Wilson lower bound of the held-out agreement.
Z = 1.645


@attrs.frozen
class Example:
    signals: Mapping[str, Any]
    same: bool  # the operator's answer


@attrs.frozen
class LearnedModel:
    weights: tuple[float, ...] = CALIBRATION
    decisions: int = 0  # operator answers it was trained on
    # share of those answers it gives itself, and what the shipped calibration gives
    agreement: float | None = None
    baseline: float | None = None
    # per operator answer: P(same) of the model fitted without its fold, and the answer
    held_out: tuple[tuple[float, bool], ...] = ()

    def probability(self, sig: Mapping[str, Any]) -> float:
        return predict(self.weights, signal_features(sig))

    def vouched(self, confidence: float) -> tuple[int, int]:
        """Held-out answers it was at least ``confidence`` sure of, and how many it got right."""
        sure = [(p >= 0.5) == same for p, same in self.held_out if max(p, 1.0 - p) >= confidence]
        return len(sure), sum(sure)

    def earned(self, confidence: float) -> bool:
        """Whether it may act on answers it is ``confidence`` sure of: the lower bound of its
        held-out agreement with operators at that confidence is at least ``confidence``."""
        n, right = self.vouched(confidence)
        return n > 0 and wilson_lower(right, n) >= confidence


def wilson_lower(hits: int, n: int, z: float = Z) -> float:
    """Lower bound of the Wilson score interval of a rate of ``hits`` in ``n``."""
    rate = hits / n
    centre = rate + z * z / (2 * n)
    spread = z * math.sqrt(rate * (1.0 - rate) / n + z * z / (4 * n * n))
    return (centre - spread) / (1.0 + z * z / n)


def agreement(weights: Sequence[float], examples: Sequence[Example]) -> float | None:
    """Share of the answers the model gives itself (P(same) on the answer's side of 0.5)."""
    if not examples:
        return None
    hits = sum((predict(weights, signal_features(e.signals)) >= 0.5) == e.same for e in examples)
    return round(hits / len(examples), 4)


def _fit(examples: Sequence[Example]) -> list[float]:
    if not examples:
        return list(CALIBRATION)
    return fit(
        [signal_features(e.signals) for e in examples],
        [e.same for e in examples],
        l2=PRIOR_STRENGTH,
        start=CALIBRATION,
    )


def held_out(examples: Sequence[Example]) -> tuple[tuple[float, bool], ...]:
    """Each answer's P(same) from the model fitted on the other folds (answer ``i`` is in
    fold ``i % folds``), with the answer."""
    folds = min(len(examples), FOLDS)
    out: list[tuple[float, bool]] = [(0.5, False)] * len(examples)
    for k in range(folds):
        weights = _fit([e for i, e in enumerate(examples) if i % folds != k])
        for i in range(k, len(examples), folds):
            p = predict(weights, signal_features(examples[i].signals))
            out[i] = (round(p, 4), examples[i].same)
    return tuple(out)


def train(examples: Sequence[Example]) -> LearnedModel:
    """Refit on all operator answers, starting from (and pulled towards) the calibration,
    with the cross-validated evidence of what it may act on."""
    weights = _fit(examples)
    return LearnedModel(
        tuple(weights),
        len(examples),
        agreement(weights, examples),
        agreement(CALIBRATION, examples),
        held_out(examples),
    )
