"""Review-queue figures on corpora with ground truth.

    uv run python ops/review_queue.py [CORPUS ...]          # default: examples/corpus

Runs the pure engine over each corpus (as one batch, which ends in the same
clusters as file-by-file ingestion), builds the review queue with
``eventdedup.matching.review.build_queue`` and prints, per corpus: open items
per 1,000 listings, the share of open merge items that are real duplicates, the
share of the first 20 (queue order) whose right answer changes the clustering,
and how many were real duplicates.  A synthetic corpus of other vocabulary:
``uv run python ops/synthetic.py DIR --events 3000 --seed N --vocab-seed N [--hard 0.08]``.
The calibration is fitted by ``eventdedup train review`` (synthetic corpora only);
what the resolver tier changes is ``ops/resolver_precision.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eventdedup.matching import dedupe_batch, evaluate_clusters, load_matching_config
from eventdedup.matching.review import CALIBRATION, MERGE, build_queue
from eventdedup.testing import SAMPLE_CORPUS, load_corpus


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

    sub_truth = {i: k for i, k in truth.items() if i in result.records}
    quality = evaluate_clusters(result.clusters, sub_truth)
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
        "pairwise_precision": quality["pairwise_precision"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path)
    args = ap.parse_args(argv)
    for root in args.corpora or [SAMPLE_CORPUS]:
        print(json.dumps(measure(root)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
