"""The review queue: which questions exist, one per pair of clusters or cluster to split.

A question exists only where an answer would change the clustering and the
answer is genuinely in doubt:

* **merge** — two clusters joined by an ambiguous pair that the clustering
  rules would allow to merge (no cannot-link, no strong disagreement, no
  rejected match between them, within the size limit), with a probability
  of being the same event of at least ``min_doubt``;
* **split** — a member of a cluster whose best link inside it is doubtful
  (P(same) at most ``1 - min_doubt``).

Items are ordered by expected benefit: P(the current clustering is wrong)
times the number of listings the answer moves.  Pure: clusters, edges and
constraints in, items out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from eventdedup.matching.clustering import strong_disagreement
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import AMBIGUOUS, MATCH, NO_MATCH, PairScore
from eventdedup.matching.logistic import predict

MERGE = "merge"
SPLIT = "split"

#: Below this probability of the current clustering being wrong, nobody is asked.
MIN_DOUBT = 0.35

FEATURES = (
    "bias",
    "match",
    "no_match",
    "combined",
    "date",
    "geo",
    "title",
    "description",
    "vetoed",
)

#: Logistic weights over ``FEATURES``, fitted on the sample corpus and synthetic
#: corpora of other vocabulary (``ops/review_queue.py --fit``); stands in for the
#: calibrated ``PairScore.probability`` until the scorer provides it.
CALIBRATION: tuple[float, ...] = (
    -8.6679,
    3.9077,
    -4.1696,
    2.5187,
    1.4412,
    1.7896,
    4.4152,
    1.2870,
    0.8945,
)


def signal_features(sig: Mapping[str, Any]) -> tuple[float, ...]:
    """``FEATURES`` of a pair from its :func:`signals` (as stored with a review item)."""
    return (
        1.0,
        1.0 if sig["decision"] == MATCH else 0.0,
        1.0 if sig["decision"] == NO_MATCH else 0.0,
        float(sig["combined"]),
        float(sig["date"]),
        float(sig["geo"]),
        float(sig["title"]),
        float(sig["description"]),
        1.0 if str(sig["reason"]).startswith("vetoed") else 0.0,
    )


def pair_features(score: PairScore) -> tuple[float, ...]:
    return signal_features(signals(score))


def pair_probability(score: PairScore, weights: Sequence[float] = CALIBRATION) -> float:
    """P(the two listings describe the same event), as the queue and the resolvers use it.

    The logistic calibration of the signals and the decision, fitted for this
    use: which of the pairs the engine left in doubt are duplicates.  The pair
    model's ``score.probability`` is fitted on all candidate pairs instead; used
    here it made the queue longer and let resolvers merge wrongly on the sample
    corpus (docs/admin.md, "The review queue").
    """
    return round(predict(weights, pair_features(score)), 4)


def signals(score: PairScore) -> dict[str, Any]:
    return {
        "date": score.date,
        "geo": score.geo,
        "title": score.title,
        "description": score.description,
        "combined": score.combined,
        "decision": score.decision,
        "reason": score.reason,
    }


@attrs.frozen
class QueueItem:
    """One question for an operator (or a resolver)."""

    kind: str  # MERGE | SPLIT
    # the pair the question is about: for MERGE the most likely pair across the
    # clusters, for SPLIT the doubtful member and its best partner in the cluster
    a_id: str
    b_id: str
    probability: float  # P(a and b are the same event)
    moved: int  # listings the answer moves
    left: tuple[str, ...]  # MERGE: a's cluster; SPLIT: the cluster as it is
    right: tuple[str, ...]  # MERGE: b's cluster; SPLIT: the listings split off
    score: PairScore

    @property
    def doubt(self) -> float:
        """P(the current clustering is wrong about this question)."""
        return self.probability if self.kind == MERGE else 1.0 - self.probability

    @property
    def benefit(self) -> float:
        return round(self.doubt * self.moved, 4)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.a_id, self.b_id)

    def reason(self) -> str:
        if self.kind == MERGE:
            return (
                f"merge? P(same) {self.probability:.2f}: would join {len(self.left)} "
                f"and {len(self.right)} listings ({self.score.reason})"
            )
        return (
            f"split? P(same) {self.probability:.2f}: would take {self.a_id} out of a "
            f"cluster of {len(self.left)} ({self.score.reason})"
        )

    def to_json(self) -> dict[str, object]:
        # the console's convention: side B is what a merge moves or a split takes out
        shown = [self.a_id, self.b_id] if self.kind == MERGE else [self.b_id, self.a_id]
        return {
            "event_ids": shown,
            "question": self.kind,
            "probability": self.probability,
            "benefit": self.benefit,
            "moves": self.moved,
            "left": list(self.left),
            "right": list(self.right),
            "signals": signals(self.score),
        }


def _pair(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


def build_queue(
    clusters: Iterable[frozenset[str]],
    edges: Iterable[PairScore],
    cfg: MatchingConfig,
    *,
    cannot_link: Iterable[tuple[str, str]] = (),
    must_link: Iterable[tuple[str, str]] = (),
    weights: Sequence[float] = CALIBRATION,
    min_doubt: float = MIN_DOUBT,
) -> list[QueueItem]:
    """The open questions about these clusters, best expected benefit first.

    ``clusters`` must hold every listing an edge touches (listings outside the
    re-clustered components included), so a question about two clusters sees
    all the evidence between them.
    """
    cluster_of: dict[str, frozenset[str]] = {}
    for c in clusters:
        for i in c:
            cluster_of[i] = c
    hard = {_pair(x, y) for x, y in cannot_link}
    linked = {_pair(x, y) for x, y in must_link}
    across: dict[tuple[frozenset[str], frozenset[str]], list[PairScore]] = {}
    inside: dict[str, list[PairScore]] = {}
    for e in edges:
        ca, cb = cluster_of.get(e.a_id), cluster_of.get(e.b_id)
        if ca is None or cb is None or e.a_id == e.b_id:
            continue
        if ca is cb:
            inside.setdefault(e.a_id, []).append(e)
            inside.setdefault(e.b_id, []).append(e)
        else:
            key = (ca, cb) if min(ca) < min(cb) else (cb, ca)
            across.setdefault(key, []).append(e)

    items: list[QueueItem] = []
    for (ca, cb), between in across.items():
        if len(ca) + len(cb) > cfg.cluster.max_cluster_size:
            continue
        blocked = any(
            e.decision == MATCH or strong_disagreement(e, cfg) or e.key in hard for e in between
        )
        if blocked or any(_pair(x, y) in hard for x in ca for y in cb):
            continue
        candidates = [e for e in between if e.decision == AMBIGUOUS]
        if not candidates:
            continue
        best = max(candidates, key=lambda e: (pair_probability(e, weights), e.key))
        p = pair_probability(best, weights)
        if p < min_doubt:
            continue
        a_side, b_side = (ca, cb) if best.a_id in ca else (cb, ca)
        items.append(
            QueueItem(
                MERGE,
                best.a_id,
                best.b_id,
                p,
                min(len(ca), len(cb)),
                tuple(sorted(a_side)),
                tuple(sorted(b_side)),
                best,
            )
        )

    seen: set[frozenset[str]] = set()
    for c in sorted({cluster_of[i] for i in inside}, key=min):
        if len(c) < 2 or c in seen:
            continue
        seen.add(c)
        weakest: tuple[float, str, PairScore] | None = None
        for x in sorted(c):
            links = [e for e in inside.get(x, ()) if e.decision != NO_MATCH]
            if not links or any(_pair(e.a_id, e.b_id) in linked for e in links):
                continue  # an operator put it here, or joined only through others
            best = max(links, key=lambda e: (pair_probability(e, weights), e.key))
            p = pair_probability(best, weights)
            if weakest is None or p < weakest[0]:
                weakest = (p, x, best)
        if weakest is None or 1.0 - weakest[0] < min_doubt:
            continue
        p, x, best = weakest
        partner = best.b_id if best.a_id == x else best.a_id
        items.append(QueueItem(SPLIT, x, partner, p, 1, tuple(sorted(c)), (x,), best))
    items.sort(key=lambda q: (-q.benefit, q.key))
    return items
