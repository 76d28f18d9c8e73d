"""The review queue's shipped calibration is what ``eventdedup train review`` fits."""

from __future__ import annotations

import json

from eventdedup.matching.review import CALIBRATION, FEATURES
from eventdedup.synth.corpus import HELD_OUT_VOCAB_SEEDS
from eventdedup.train_review import SHIPPED, TRAIN_SPECS, render, train


def test_train_review_reproduces_the_shipped_file_byte_for_byte() -> None:
    text = render(train())
    assert text == SHIPPED.read_text(encoding="utf-8")
    data = json.loads(text)
    assert tuple(data["features"]) == FEATURES
    assert tuple(data["weights"]) == CALIBRATION


def test_it_is_fitted_on_synthetic_training_vocabularies_only() -> None:
    # never the dev sample (not synthetic at all) nor a held-out vocabulary
    assert TRAIN_SPECS
    assert all(s.vocab_seed not in HELD_OUT_VOCAB_SEEDS for s in TRAIN_SPECS)
