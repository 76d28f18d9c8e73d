"""Experiment (not shipped): the review queue with a *contested* feature in its calibration.

    uv run python ops/review_contested.py [CORPUS ...]      # default: examples/corpus

A merge question is *contested* when one of its two clusters is also a merge
candidate (``review.merge_candidates``) with a third cluster: the listing could
join more than one cluster, so at least one of those questions is about
different events (films at one cinema, two talks at one venue, two clubs'
balls on one evening).  The script fits the calibration with this one extra
feature exactly as ``eventdedup train review`` fits the shipped one (same
synthetic training corpora, rows, weighting and L2), then prints, per corpus
with ground truth, the figures of ``ops/review_queue.py`` for the queue with
it.  Split questions are never contested (the feature is 0), so their
probability is the refitted calibration's without it.

It is not shipped because the stored queue could not keep it up to date: the
daemon (``eventdedup/db/dedup.py``) recomputes a question only when the
component of one of its two clusters is re-clustered, while a file that only
adds an ambiguous neighbour elsewhere changes whether it is contested.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_queue import load_truth

from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import PairScore
from eventdedup.matching.logistic import fit
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.review import (
    MERGE,
    MIN_DOUBT,
    SPLIT,
    SURE,
    QueueItem,
    build_queue,
    merge_candidates,
    pair_features,
    split_candidates,
)
from eventdedup.synth.corpus import synthetic_corpus
from eventdedup.testing import SAMPLE_CORPUS, load_corpus
from eventdedup.train_review import L2, TRAIN_SPECS

Clusters = Sequence[frozenset[str]]
Row = tuple[tuple[float, ...], bool, str]  # features + contested, same event, question kind


def degrees(
    clusters: Clusters, decisions: Sequence[PairScore], cfg: MatchingConfig
) -> Counter[frozenset[str]]:
    """Per cluster: how many merge questions it may be part of."""
    deg: Counter[frozenset[str]] = Counter()
    for ca, cb, _ in merge_candidates(clusters, decisions, cfg):
        deg[ca] += 1
        deg[cb] += 1
    return deg


def rows(
    clusters: Clusters, decisions: Sequence[PairScore], truth: dict[str, str], cfg: MatchingConfig
) -> list[Row]:
    """``train_review.queue_rows`` with the contested flag appended."""
    deg = degrees(clusters, decisions, cfg)

    def same(e: PairScore) -> bool:
        return truth.get(e.a_id) is not None and truth.get(e.a_id) == truth.get(e.b_id)

    out: list[Row] = []
    for ca, cb, candidates in merge_candidates(clusters, decisions, cfg):
        flag = 1.0 if deg[ca] + deg[cb] > 2 else 0.0
        out.extend(
            ((*pair_features(e, (len(ca), len(cb))), flag), same(e), MERGE) for e in candidates
        )
    for c, _, links in split_candidates(clusters, decisions):
        out.extend(((*pair_features(e, (len(c) - 1, 1)), 0.0), same(e), SPLIT) for e in links)
    return out


def train(cfg: MatchingConfig) -> list[float]:
    data: list[Row] = []
    for spec in TRAIN_SPECS:
        clear_caches()
        corpus = synthetic_corpus(spec)
        result = dedupe_batch(corpus.events, cfg)
        data.extend(rows(result.clusters, result.decisions, corpus.truth, cfg))
    count = {k: sum(r[2] == k for r in data) or 1 for k in (MERGE, SPLIT)}
    share = [count[MERGE] / count[kind] if kind == SPLIT else 1.0 for _, _, kind in data]
    return fit([x for x, _, _ in data], [y for _, y, _ in data], l2=L2, sample_weight=share)


def queue(
    clusters: Clusters, decisions: Sequence[PairScore], cfg: MatchingConfig, w: Sequence[float]
) -> list[QueueItem]:
    """``build_queue`` with the contested flag; the flag is constant per pair of clusters, so
    it does not change which pair a question is about, only its probability."""
    deg = degrees(clusters, decisions, cfg)
    base = tuple(w[:-1])
    out = []
    for q in build_queue(clusters, decisions, cfg, weights=base, min_doubt=0.0, sure=1.01):
        if q.kind == MERGE and deg[frozenset(q.left)] + deg[frozenset(q.right)] > 2:
            z = sum(a * b for a, b in zip(base, pair_features(q.score, q.sizes), strict=True))
            q = attrs.evolve(q, probability=round(1.0 / (1.0 + math.exp(-(z + w[-1]))), 4))
        if MIN_DOUBT <= q.doubt < SURE:
            out.append(q)
    out.sort(key=lambda q: (-q.benefit, q.key))
    return out


def measure(root: Path, w: Sequence[float], cfg: MatchingConfig) -> dict[str, Any]:
    truth = load_truth(root)
    events = [e for evs in load_corpus(root).values() for e in evs]
    clear_caches()
    result = dedupe_batch(events, cfg)
    items = queue(result.clusters, result.decisions, cfg, w)

    def same(q: QueueItem) -> bool:
        return truth.get(q.a_id) is not None and truth.get(q.a_id) == truth.get(q.b_id)

    merges = [q for q in items if q.kind == MERGE]
    first = items[:20]
    return {
        "corpus": str(root),
        "listings": len(events),
        "open_items": len(items),
        "open_per_1000": round(1000 * len(items) / len(events), 1),
        "merge_items": len(merges),
        "split_items": len(items) - len(merges),
        "merge_real_duplicates": round(sum(map(same, merges)) / len(merges), 3) if merges else None,
        "first20_real_duplicates": f"{sum(map(same, first))} of {len(first)}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path)
    args = ap.parse_args(argv)
    cfg = load_matching_config(None)
    w = train(cfg)
    print(json.dumps({"weights": [round(x, 4) for x in w], "contested_weight": round(w[-1], 4)}))
    for root in args.corpora or [SAMPLE_CORPUS]:
        print(json.dumps(measure(root, w, cfg)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
