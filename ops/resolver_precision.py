"""Pairwise precision with the resolver tier: engine alone vs engine + learned resolver.

    uv run python ops/resolver_precision.py [CORPUS ...] [--answer-share 0.5]

Per corpus with ground truth (default: the dev sample): the engine clusters it
(one batch), a simulated operator answers the first ``--answer-share`` of the
review queue from the truth (merge / keep separate / split / keep together),
the ``learned`` resolver is trained on those answers exactly as the daemon
trains it (``eventdedup.matching.learned.train``), and then answers the rest
of the queue, applying what it is at least 0.9 sure of
(``EVENT_DEDUP_RESOLVER_CONFIDENCE``'s default) once it has earned that
(``LearnedModel.earned``: its cross-validated agreement with the operator's
answers at that confidence), as the daemon's resolver does.  Answers become constraints
and the corpus is re-clustered, as in the daemon.  Prints the pairwise
precision and recall of the engine alone, of the engine + the resolver's
decisions only (the automatic decisions), and of engine + operator +
resolver, with how many decisions the resolver took and how many were right.
The learned resolver with no operator answers (the shipped calibration) is
never 0.9 sure of a queued item, so without answers it decides nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_queue import load_truth

from eventdedup.matching import dedupe_batch, evaluate_clusters, load_matching_config
from eventdedup.matching.learned import Example, LearnedModel, train
from eventdedup.matching.review import MERGE, QueueItem, build_queue
from eventdedup.model import SourceEvent
from eventdedup.testing import SAMPLE_CORPUS, load_corpus

#: ``EVENT_DEDUP_RESOLVER_CONFIDENCE``'s default.
CONFIDENCE = 0.9

Pair = tuple[str, str]


def constraints(item: QueueItem, same: bool) -> tuple[list[Pair], list[Pair]]:
    """The must-links and cannot-links an answer stores (as the review operations do)."""
    if item.kind == MERGE:
        return ([(item.a_id, item.b_id)], []) if same else ([], [(item.a_id, item.b_id)])
    if same:  # kept together: dismissed, nothing stored
        return [], []
    return [], [(item.a_id, other) for other in item.left if other != item.a_id]


def quality(
    events: Sequence[SourceEvent],
    truth: dict[str, str],
    must: list[Pair],
    cannot: list[Pair],
) -> dict[str, float]:
    cfg = load_matching_config()
    result = dedupe_batch(events, cfg, must_link=must, cannot_link=cannot)
    known = {i: k for i, k in truth.items() if i in result.records}
    q = evaluate_clusters(result.clusters, known)
    return {"precision": q["pairwise_precision"], "recall": q["pairwise_recall"]}


def measure(root: Path, answer_share: float) -> dict[str, Any]:
    cfg = load_matching_config()
    truth = load_truth(root)
    events = [e for evs in load_corpus(root).values() for e in evs]
    result = dedupe_batch(events, cfg)
    queue = build_queue(result.clusters, result.decisions, cfg)

    def same(item: QueueItem) -> bool:
        return truth.get(item.a_id) is not None and truth.get(item.a_id) == truth.get(item.b_id)

    answered = round(len(queue) * answer_share)
    by_operator, rest = queue[:answered], queue[answered:]
    examples = [Example(q.to_json()["signals"], same(q)) for q in by_operator]  # type: ignore[arg-type]
    model = train(examples) if examples else LearnedModel()
    op_must: list[Pair] = []
    op_cannot: list[Pair] = []
    for q in by_operator:
        m, c = constraints(q, same(q))
        op_must += m
        op_cannot += c
    auto_must: list[Pair] = []
    auto_cannot: list[Pair] = []
    decided = right = 0
    out_of_the_box = 0
    earned = model.earned(CONFIDENCE)
    would = would_right = 0  # what it would decide without the earned rule
    for q in rest:
        sig: Any = q.to_json()["signals"]
        if max(LearnedModel().probability(sig), 1 - LearnedModel().probability(sig)) >= CONFIDENCE:
            out_of_the_box += 1
        p = model.probability(sig)
        if max(p, 1 - p) < CONFIDENCE:
            continue
        says_same = p >= 0.5
        would += 1
        would_right += says_same == same(q)
        if not earned:
            continue
        decided += 1
        right += says_same == same(q)
        m, c = constraints(q, says_same)
        auto_must += m
        auto_cannot += c
    return {
        "corpus": str(root),
        "listings": len(events),
        "queue": len(queue),
        "operator_answers": answered,
        "learned_agreement_with_operators": model.agreement,
        "shipped_calibration_agreement": model.baseline,
        "resolver_decisions_out_of_the_box": out_of_the_box,
        "held_out_sure_right": model.vouched(CONFIDENCE),
        "earned": earned,
        "decisions_without_earned_rule": f"{would} ({would_right} right)",
        "resolver_decisions": decided,
        "resolver_right": right,
        "engine": quality(events, truth, [], []),
        "engine_and_resolver": quality(events, truth, auto_must, auto_cannot),
        "engine_operator_resolver": quality(
            events, truth, op_must + auto_must, op_cannot + auto_cannot
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path)
    ap.add_argument(
        "--answer-share",
        type=float,
        default=0.5,
        help="share of the queue (best benefit first) the simulated operator answers",
    )
    args = ap.parse_args(argv)
    for root in args.corpora or [SAMPLE_CORPUS]:
        print(json.dumps(measure(root, args.answer_share)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
