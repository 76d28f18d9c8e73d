"""The learned resolver's model: the shipped calibration, refitted on operators' answers.

Pure: examples (a pair's signals and the operator's answer) in, weights out.
The fit is pulled towards the shipped calibration (``review.CALIBRATION``), so
a handful of answers nudge it and many answers move it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from eventdedup.matching.logistic import fit, predict
from eventdedup.matching.review import CALIBRATION, signal_features

#: How strongly the fit is pulled towards the shipped calibration.
PRIOR_STRENGTH = 0.5


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

    def probability(self, sig: Mapping[str, Any]) -> float:
        return predict(self.weights, signal_features(sig))


def agreement(weights: Sequence[float], examples: Sequence[Example]) -> float | None:
    """Share of the answers the model gives itself (P(same) on the answer's side of 0.5)."""
    if not examples:
        return None
    hits = sum((predict(weights, signal_features(e.signals)) >= 0.5) == e.same for e in examples)
    return round(hits / len(examples), 4)


def train(examples: Sequence[Example]) -> LearnedModel:
    """Refit on all operator answers, starting from (and pulled towards) the calibration."""
    weights = fit(
        [signal_features(e.signals) for e in examples],
        [e.same for e in examples],
        l2=PRIOR_STRENGTH,
        start=CALIBRATION,
    )
    return LearnedModel(
        tuple(weights),
        len(examples),
        agreement(weights, examples),
        agreement(CALIBRATION, examples),
    )
