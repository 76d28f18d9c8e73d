"""Review-queue figures on corpora with ground truth (and the calibration fit).

    uv run python ops/review_queue.py [CORPUS ...]          # default: examples/corpus
    uv run python ops/review_queue.py --fit CORPUS ...      # print fitted CALIBRATION

Runs the pure engine over each corpus (as one batch, which ends in the same
clusters as file-by-file ingestion), builds the review queue with
``eventdedup.matching.review.build_queue`` and prints, per corpus: open items
per 1,000 listings, the share of open merge items that are real duplicates, the
share of the first 20 (queue order) whose right answer changes the clustering,
and how many were real duplicates.  A synthetic corpus of other vocabulary:
``uv run python ops/synthetic.py DIR --events 3000 --seed N``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eventdedup.matching import dedupe_batch, evaluate_clusters, load_matching_config
from eventdedup.matching.logistic import fit
from eventdedup.matching.review import CALIBRATION, FEATURES, MERGE, build_queue, pair_features
from eventdedup.testing import SAMPLE_CORPUS, load_corpus

#: ``EVENT_DEDUP_RESOLVER_CONFIDENCE``'s default.
RESOLVER_CONFIDENCE = 0.9


def load_truth(root: Path) -> dict[str, str]:
    """Both truth formats: ``truth.json`` (id -> key) or ``truth.jsonl`` lines."""
    if (root / "truth.json").exists():
        truth: dict[str, str] = json.loads((root / "truth.json").read_text(encoding="utf-8"))
        return truth
    lines = (root / "truth.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["id"]: row["key"] for row in map(json.loads, filter(None, lines))}


def measure(root: Path, weights: tuple[float, ...] = CALIBRATION) -> dict[str, Any]:
    cfg = load_matching_config()
    truth = load_truth(root)
    events = [e for evs in load_corpus(root).values() for e in evs]
    result = dedupe_batch(events, cfg)
    queue = build_queue(result.clusters, result.decisions, cfg, weights=weights)

    def same(a: str, b: str) -> bool:
        return truth.get(a) is not None and truth.get(a) == truth.get(b)

    def right(q: Any) -> bool:  # the answer an operator gives changes the clustering
        return same(q.a_id, q.b_id) if q.kind == MERGE else not same(q.a_id, q.b_id)

    # the resolver tier at its defaults (learned on, no operator answers yet: the shipped
    # calibration; llm off) applies answers at confidence >= 0.9
    clusters = [set(c) for c in result.clusters]
    where = {i: n for n, c in enumerate(clusters) for i in c}
    automatic = 0
    for q in queue:
        if q.kind == MERGE and q.probability >= RESOLVER_CONFIDENCE:
            a, b = where[q.a_id], where[q.b_id]
            if a != b:
                clusters[a] |= clusters[b]
                for i in clusters[b]:
                    where[i] = a
                clusters[b] = set()
                automatic += 1
        elif q.kind != MERGE and 1 - q.probability >= RESOLVER_CONFIDENCE:
            clusters[where[q.a_id]].discard(q.a_id)
            clusters.append({q.a_id})
            where[q.a_id] = len(clusters) - 1
            automatic += 1
    sub_truth = {i: k for i, k in truth.items() if i in result.records}
    before = evaluate_clusters(result.clusters, sub_truth)
    after = evaluate_clusters([c for c in clusters if c], sub_truth)
    merges = [q for q in queue if q.kind == MERGE]
    first = queue[:20]
    n = len(events)
    return {
        "corpus": str(root),
        "listings": n,
        "open_items": len(queue),
        "open_per_1000": round(1000 * len(queue) / n, 1),
        "merge_items": len(merges),
        "split_items": len(queue) - len(merges),
        "merge_real_duplicates": round(sum(same(q.a_id, q.b_id) for q in merges) / len(merges), 3)
        if merges
        else None,
        "first20_real_duplicates": round(sum(same(q.a_id, q.b_id) for q in first) / len(first), 3)
        if first
        else None,
        "first20_answer_changes_clustering": round(sum(map(right, first)) / len(first), 3)
        if first
        else None,
        "pairwise_precision": before["pairwise_precision"],
        "resolver_decisions": automatic,
        "pairwise_precision_with_resolvers": after["pairwise_precision"],
    }


def fit_calibration(roots: list[Path]) -> list[float]:
    cfg = load_matching_config()
    rows: list[tuple[float, ...]] = []
    labels: list[bool] = []
    for root in roots:
        truth = load_truth(root)
        events = [e for evs in load_corpus(root).values() for e in evs]
        for d in dedupe_batch(events, cfg).decisions:
            rows.append(pair_features(d))
            labels.append(truth.get(d.a_id) is not None and truth.get(d.a_id) == truth.get(d.b_id))
    return fit(rows, labels, l2=1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path)
    ap.add_argument("--fit", action="store_true", help="fit and print the calibration weights")
    args = ap.parse_args(argv)
    roots = args.corpora or [SAMPLE_CORPUS]
    if args.fit:
        weights = fit_calibration(roots)
        print(dict(zip(FEATURES, (round(w, 4) for w in weights), strict=True)))
        print("CALIBRATION = (" + ", ".join(f"{w:.4f}" for w in weights) + ")")
        return 0
    for root in roots:
        print(json.dumps(measure(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
