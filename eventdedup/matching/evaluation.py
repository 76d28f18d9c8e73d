"""Cluster quality against ground truth: pairwise and B-cubed P/R/F1, error listings.

Unlike the original's harness (docs/domain.md §11, §17 item 12) this grades the *final
clusters* against a complete truth mapping, so every false merge counts,
including transitive ones no single pair decision predicted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

from eventdedup.matching.decision import PairScore
from eventdedup.matching.record import EventRecord


def _c2(n: int) -> int:
    return n * (n - 1) // 2


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def _assignment(clusters: Iterable[Iterable[str]], ids: Iterable[str]) -> dict[str, str]:
    pred: dict[str, str] = {}
    for n, cl in enumerate(clusters):
        for i in cl:
            pred[i] = f"c{n}"
    for i in ids:
        pred.setdefault(i, f"single:{i}")
    return pred


def evaluate_clusters(
    clusters: Iterable[Iterable[str]], truth: Mapping[str, str]
) -> dict[str, float | int]:
    """Pairwise and B-cubed precision/recall/F1 over the ids in ``truth``.

    Ids not in any cluster count as singletons; clustered ids missing from
    ``truth`` are ignored.
    """
    pred = _assignment(clusters, truth)
    correct = sum(_c2(v) for v in Counter((pred[i], k) for i, k in truth.items()).values())
    predicted = sum(_c2(v) for v in Counter(pred[i] for i in truth).values())
    true = sum(_c2(v) for v in Counter(truth.values()).values())
    p = correct / predicted if predicted else 1.0
    r = correct / true if true else 1.0
    # B-cubed: per item, overlap of its predicted and true cluster
    pc = Counter(pred[i] for i in truth)
    tc = Counter(truth.values())
    both = Counter((pred[i], k) for i, k in truth.items())
    n = len(truth) or 1
    bp = sum(both[(pred[i], k)] / pc[pred[i]] for i, k in truth.items()) / n
    br = sum(both[(pred[i], k)] / tc[k] for i, k in truth.items()) / n
    return {
        "pairwise_precision": round(p, 4),
        "pairwise_recall": round(r, 4),
        "pairwise_f1": round(_f1(p, r), 4),
        "bcubed_precision": round(bp, 4),
        "bcubed_recall": round(br, 4),
        "bcubed_f1": round(_f1(bp, br), 4),
        "predicted_pairs": predicted,
        "true_pairs": true,
        "correct_pairs": correct,
        "clusters": len(pc),
        "true_clusters": len(tc),
    }


def _pair_row(
    x: str, y: str, records: Mapping[str, EventRecord], scores: Mapping[tuple[str, str], PairScore]
) -> dict[str, Any]:
    a, b = (x, y) if x < y else (y, x)
    s = scores.get((a, b))
    ra, rb = records.get(a), records.get(b)
    return {
        "a": a,
        "b": b,
        "title_a": ra.title if ra else None,
        "title_b": rb.title if rb else None,
        "city_a": ra.city if ra else None,
        "city_b": rb.city if rb else None,
        "days_a": list(ra.days) if ra else None,
        "days_b": list(rb.days) if rb else None,
        "score": s.to_json() if s else None,
    }


def false_merges(
    clusters: Iterable[Iterable[str]],
    truth: Mapping[str, str],
    records: Mapping[str, EventRecord],
    scores: Sequence[PairScore],
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Pairs placed together whose truth keys differ, strongest-scored first."""
    by_key = {s.key: s for s in scores}
    rows = []
    for cl in clusters:
        for x, y in combinations(sorted(cl), 2):
            if x in truth and y in truth and truth[x] != truth[y]:
                rows.append(_pair_row(x, y, records, by_key))
    rows.sort(key=lambda r: (-(r["score"] or {}).get("combined", 0.0), r["a"], r["b"]))
    return rows[:limit]


def missed_pairs(
    clusters: Iterable[Iterable[str]],
    truth: Mapping[str, str],
    records: Mapping[str, EventRecord],
    scores: Sequence[PairScore],
    limit: int = 20,
) -> list[dict[str, Any]]:
    """True duplicate pairs that ended in different clusters, best-scored first."""
    pred = _assignment(clusters, truth)
    by_key = {s.key: s for s in scores}
    groups: dict[str, list[str]] = {}
    for i, k in truth.items():
        groups.setdefault(k, []).append(i)
    rows = []
    for ids in groups.values():
        for x, y in combinations(sorted(ids), 2):
            if pred[x] != pred[y]:
                rows.append(_pair_row(x, y, records, by_key))
    rows.sort(key=lambda r: (-(r["score"] or {}).get("combined", -1.0), r["a"], r["b"]))
    return rows[:limit]


def lookalike_false_merges(
    clusters: Iterable[Iterable[str]],
    truth: Mapping[str, str],
    groups: Mapping[str, str | None],
) -> int:
    """Merged pairs from the same look-alike group but different real events."""
    n = 0
    for cl in clusters:
        for x, y in combinations(sorted(cl), 2):
            gx, gy = groups.get(x), groups.get(y)
            if gx and gx == gy and truth.get(x) != truth.get(y):
                n += 1
    return n
