"""Synthetic corpora as the daemon reads them, and the named ones used to train and measure.

Vocabulary seeds are split once, here: the model is trained on the base
vocabulary and ``TRAIN_VOCAB_SEEDS``; the benchmark's *other-vocabulary*
corpora use ``HELD_OUT_VOCAB_SEEDS``, which nothing is tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eventdedup.ingest.loader import load_file
from eventdedup.model import SourceEvent
from eventdedup.synth.generator import generate, take

#: rate of hard look-alike groups per real event in every named corpus
HARD_RATE = 0.06
TRAIN_VOCAB_SEEDS: tuple[int | None, ...] = (None, 11, 12, 13, 14, 15, 16)
HELD_OUT_VOCAB_SEEDS: tuple[int, ...] = (7001, 7002, 7003)


@dataclass(frozen=True)
class Spec:
    """One corpus: generator seed, vocabulary seed, size, hard-case rate."""

    seed: int
    vocab_seed: int | None
    events: int
    hard_rate: float = HARD_RATE

    def describe(self) -> dict[str, Any]:
        """As a trained artefact records the corpora it was fitted on."""
        return {
            "seed": self.seed,
            "vocab_seed": self.vocab_seed,
            "events": self.events,
            "hard": self.hard_rate,
        }


#: the benchmark's synthetic corpora (``ops/bench_matching.py --suite``)
BENCH_SPECS: dict[str, Spec] = {
    "same-vocab 3k": Spec(101, None, 3000),
    "other-vocab A 3k": Spec(202, 7001, 3000),
    "other-vocab B 3k": Spec(303, 7002, 3000),
    "other-vocab C 20k": Spec(404, 7003, 20000),
}


@dataclass
class Corpus:
    events: list[SourceEvent]
    truth: dict[str, str]  # id -> real event key
    groups: dict[str, str | None]  # id -> look-alike group


def synthetic_corpus(spec: Spec) -> Corpus:
    """The corpus of ``spec``, read with the daemon's loader (deterministic)."""
    events: list[SourceEvent] = []
    truth: dict[str, str] = {}
    groups: dict[str, str | None] = {}
    stream = generate(spec.seed, vocab_seed=spec.vocab_seed, hard_rate=spec.hard_rate)
    for f in take(stream, spec.events):
        events.extend(load_file(f.to_bytes(), f.name).events)
        for i, key, group in f.truth:
            truth[i] = key
            groups[i] = group
    return Corpus(events, truth, groups)
