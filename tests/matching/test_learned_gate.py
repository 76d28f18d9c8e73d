"""The learned resolver acts only where its held-out agreement with operators vouches for it."""

from __future__ import annotations

from eventdedup.matching.decision import PairScore
from eventdedup.matching.learned import Example, LearnedModel, held_out, train, wilson_lower
from eventdedup.matching.review import signals


def _example(i: int, same: bool) -> Example:
    v = 1.0 if same else 0.0
    score = PairScore(
        f"a{i}",
        f"b{i}",
        1.0,
        v,
        v,
        v,
        0.5 + 0.2 * v,
        "ambiguous",
        "ambiguous: combined 0.60",
        probability=0.99 if same else 0.02,
    )
    return Example(signals(score), same)


def test_few_answers_earn_nothing_however_consistent() -> None:
    model = train([_example(i, i % 2 == 0) for i in range(8)])
    assert model.agreement == 1.0  # right on every answer it was fitted on
    n, right = model.vouched(0.9)
    assert n <= 8 and right == n
    assert not model.earned(0.9)


def test_enough_consistent_answers_earn_it_at_that_confidence_only() -> None:
    model = train([_example(i, i % 2 == 0) for i in range(80)])
    n, right = model.vouched(0.9)
    assert n >= 25 and right == n
    assert model.earned(0.9)
    assert not model.earned(0.999)  # no held-out answer was that sure


def test_held_out_answers_come_from_models_fitted_without_them() -> None:
    examples = [_example(i, i % 2 == 0) for i in range(12)]
    # an answer that contradicts every other like it: fitted without it, the model is wrong
    examples[3] = Example(examples[2].signals, False)
    predicted = held_out(examples)
    assert len(predicted) == len(examples)
    assert predicted[3][0] > 0.5 and predicted[3][1] is False


def test_one_held_out_miss_in_25_is_not_enough_for_090() -> None:
    vouched = ((0.99, True),) * 24 + ((0.95, False),)
    assert not LearnedModel(held_out=vouched).earned(0.9)
    assert LearnedModel(held_out=((0.99, True),) * 25).earned(0.9)
    assert not LearnedModel(held_out=((0.99, True),) * 24).earned(0.9)
    assert wilson_lower(24, 25) < 0.9 <= wilson_lower(25, 25)
    assert not LearnedModel().earned(0.9)  # the shipped calibration has no operator answers
