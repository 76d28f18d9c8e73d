"""The review queue: which questions exist, one per pair of clusters or cluster to split.

A question exists only where an answer would change the clustering and the
answer is genuinely in doubt:

* **merge** — two clusters joined by an ambiguous pair that the clustering
  rules would allow to merge (no cannot-link, no strong disagreement, no
  rejected match between them, within the size limit): ``merge_candidates``;
* **split** — a member of a cluster, asked about its best link inside it
  (one per cluster: the weakest): ``split_candidates``;
* in doubt: P(the current clustering is wrong) is at least ``min_doubt`` and
  below ``sure`` (at or above it the calibration is sure; nobody is asked).

A merge question is *contested* when one of its two clusters is also a merge
candidate with a third cluster (``merge_questions``): the listing could join
more than one cluster, so at least one of those questions is about different
events (films at one cinema, two talks at one venue).  It is an input of the
calibration, so whether a question is contested depends on the neighbours of
both its clusters (the stored queue loads them: ``eventdedup/db/dedup.py``).

P(same) is the calibration's (``CALIBRATION``, fitted on synthetic corpora by
``eventdedup train review``).  Items are ordered by expected benefit: P(the
current clustering is wrong) times the number of listings the answer moves.
Pure: clusters, edges and constraints in, items out.
"""

from __future__ import annotations

import importlib.resources
import json
import math
from collections import Counter
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
MIN_DOUBT = 0.5
#: At or above this probability of the current clustering being wrong, the calibration
#: is sure, and an answer would be its own: nobody is asked, and the engine's clustering
#: stands (merging sure pairs is the pair model's ``promote``).  The learned resolver's
#: default confidence: out of the box it is sure of no queued item.
SURE = 0.9

#: The calibration's inputs, in order (see :func:`signal_features`).
FEATURES = (
    "bias",
    "match",  # the engine's decision (a split question is about a cluster's links)
    "pair_logit",  # the pair model's P(same), as log-odds
    "date",
    "geo",
    "title",
    "description",
    "combined",
    "vetoed",
    "different_days",  # no common day at all
    "different_place",  # geo 0: towns or points far apart
    "corroborated",  # both clusters already hold more than one listing
    "contested",  # a merge question whose cluster could also join a third cluster
)
CALIBRATION_FILE = "review_calibration.json"


class CalibrationError(ValueError):
    pass


def load_calibration(text: str | None = None) -> tuple[float, ...]:
    """The shipped calibration's weights (``eventdedup train review`` writes the file)."""
    if text is None:
        text = importlib.resources.files(__package__).joinpath(CALIBRATION_FILE).read_text("utf-8")
    data = json.loads(text)
    if tuple(data.get("features", ())) != FEATURES:
        raise CalibrationError(
            f"{CALIBRATION_FILE}: features {data.get('features')} are not the code's {FEATURES}; "
            "run `eventdedup train review`"
        )
    return tuple(float(w) for w in data["weights"])


#: Logistic weights over ``FEATURES``: P(same event) for a pair the engine left in
#: doubt, fitted on synthetic corpora only (``eventdedup train review``).
CALIBRATION: tuple[float, ...] = load_calibration()


def _logit(p: float) -> float:
    if p < 0.0:  # stored before the pair model existed: no evidence either way
        return 0.0
    p = min(max(p, 0.001), 0.999)
    return math.log(p / (1.0 - p))


def _features(
    decision: str,
    probability: float,
    date: float,
    geo: float,
    title: float,
    description: float,
    combined: float,
    reason: str,
    sizes: Sequence[int],
    contested: object,
) -> tuple[float, ...]:
    """``FEATURES`` of a pair, from its signals' values."""
    date, geo = float(date), float(geo)
    return (
        1.0,
        1.0 if decision == MATCH else 0.0,
        _logit(float(probability)),
        date,
        geo,
        float(title),
        float(description),
        float(combined),
        1.0 if reason.startswith("vetoed") else 0.0,
        1.0 if date <= 0.0 else 0.0,
        1.0 if geo <= 0.0 else 0.0,
        1.0 if min(sizes) > 1 else 0.0,
        1.0 if contested else 0.0,
    )


def signal_features(sig: Mapping[str, Any]) -> tuple[float, ...]:
    """``FEATURES`` of a pair from its :func:`signals` (as stored with a review item)."""
    return _features(
        sig["decision"],
        sig.get("probability", -1.0),
        sig["date"],
        sig["geo"],
        sig["title"],
        sig["description"],
        sig["combined"],
        str(sig["reason"]),
        sig.get("sizes") or (1, 1),
        sig.get("contested"),
    )


def pair_features(
    score: PairScore, sizes: tuple[int, int] = (1, 1), contested: bool = False
) -> tuple[float, ...]:
    """``FEATURES`` of a pair from its score (:func:`signal_features` of its :func:`signals`,
    without making the dict)."""
    s = score
    return _features(
        s.decision,
        s.probability,
        s.date,
        s.geo,
        s.title,
        s.description,
        s.combined,
        s.reason,
        sizes,
        contested,
    )


def pair_probability(
    score: PairScore,
    weights: Sequence[float] = CALIBRATION,
    sizes: tuple[int, int] = (1, 1),
    contested: bool = False,
) -> float:
    """P(the two listings describe the same event), as the queue and the resolvers use it.

    The logistic calibration of the pair model's P, the signals and the two
    clusters' sizes, fitted for this use: which of the pairs the engine left
    in doubt are duplicates (the pair model's P is fitted on all candidate
    pairs).  ``sizes``: the listings on each side of the question;
    ``contested``: see :func:`merge_questions` (never for a split question).
    """
    return round(predict(weights, pair_features(score, sizes, contested)), 4)


def _most_likely(
    scores: Iterable[PairScore],
    weights: Sequence[float],
    sizes: tuple[int, int],
    contested: bool,
    known: dict[int, float] | None = None,
) -> tuple[float, PairScore]:
    """The score of highest :func:`pair_probability` (ties: the highest key), and that P.

    ``known``: probabilities already computed with these ``sizes`` and ``contested``, by
    ``id`` of the score (the caller keeps the scores alive)."""
    best: PairScore | None = None
    best_p = 0.0
    for e in scores:
        if known is None:
            p = pair_probability(e, weights, sizes, contested)
        else:
            got = known.get(id(e))
            if got is None:
                got = known[id(e)] = pair_probability(e, weights, sizes, contested)
            p = got
        if best is None or p > best_p or (p == best_p and e.key > best.key):
            best, best_p = e, p
    assert best is not None, "a question has at least one pair"
    return best_p, best


def signals(
    score: PairScore, sizes: tuple[int, int] = (1, 1), contested: bool = False
) -> dict[str, Any]:
    return {
        "date": score.date,
        "geo": score.geo,
        "title": score.title,
        "description": score.description,
        "combined": score.combined,
        "decision": score.decision,
        "reason": score.reason,
        "probability": score.probability,
        "sizes": list(sizes),
        "contested": contested,
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
    contested: bool = False  # MERGE: a cluster of it could also join a third cluster

    @property
    def sizes(self) -> tuple[int, int]:
        """Listings on each side of the question (a split: the rest, and the one taken out)."""
        if self.kind == MERGE:
            return (len(self.left), len(self.right))
        return (len(self.left) - 1, 1)

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
            "signals": signals(self.score, self.sizes, self.contested),
        }


def _pair(x: str, y: str) -> tuple[str, str]:
    return (x, y) if x < y else (y, x)


def _index(clusters: Iterable[frozenset[str]]) -> dict[str, frozenset[str]]:
    return {i: c for c in clusters for i in c}


def merge_candidates(
    clusters: Iterable[frozenset[str]],
    edges: Iterable[PairScore],
    cfg: MatchingConfig,
    *,
    cannot_link: Iterable[tuple[str, str]] = (),
) -> list[tuple[frozenset[str], frozenset[str], list[PairScore]]]:
    """Pairs of clusters a merge question may be about, with their ambiguous pairs.

    The clustering rules must allow the merge: no cannot-link, no match the
    repair rejected and no strong disagreement between them, within the size
    limit.  (The calibration is fitted on exactly these pairs.)
    """
    cluster_of = _index(clusters)
    hard = {_pair(x, y) for x, y in cannot_link}
    across: dict[tuple[frozenset[str], frozenset[str]], list[PairScore]] = {}
    for e in edges:
        ca, cb = cluster_of.get(e.a_id), cluster_of.get(e.b_id)
        if ca is None or cb is None or ca is cb:
            continue
        key = (ca, cb) if min(ca) < min(cb) else (cb, ca)
        across.setdefault(key, []).append(e)
    out = []
    for (ca, cb), between in across.items():
        if len(ca) + len(cb) > cfg.cluster.max_cluster_size:
            continue
        blocked = any(
            e.decision == MATCH or strong_disagreement(e, cfg) or e.key in hard for e in between
        )
        if blocked or any(_pair(x, y) in hard for x in ca for y in cb):
            continue
        candidates = [e for e in between if e.decision == AMBIGUOUS]
        if candidates:
            out.append((ca, cb, candidates))
    return out


def merge_questions(
    clusters: Iterable[frozenset[str]],
    edges: Iterable[PairScore],
    cfg: MatchingConfig,
    *,
    cannot_link: Iterable[tuple[str, str]] = (),
) -> list[tuple[frozenset[str], frozenset[str], list[PairScore], bool]]:
    """``merge_candidates`` with each pair's *contested* flag.

    Contested: one of the two clusters is also a merge candidate with a third
    cluster.  Correct for a pair when the edges and cannot-links of both its
    clusters' listings are all given (and the clusters at their other ends).
    """
    found = merge_candidates(clusters, edges, cfg, cannot_link=cannot_link)
    degree: Counter[frozenset[str]] = Counter()
    for ca, cb, _ in found:
        degree[ca] += 1
        degree[cb] += 1
    return [(ca, cb, cands, degree[ca] + degree[cb] > 2) for ca, cb, cands in found]


def split_candidates(
    clusters: Iterable[frozenset[str]],
    edges: Iterable[PairScore],
    *,
    must_link: Iterable[tuple[str, str]] = (),
) -> list[tuple[frozenset[str], str, list[PairScore]]]:
    """Members a split question may be about, with their links inside their cluster.

    A member an operator's must-link put there is not asked about.
    """
    cluster_of = _index(clusters)
    linked = {_pair(x, y) for x, y in must_link}
    inside: dict[str, list[PairScore]] = {}
    for e in edges:
        ca, cb = cluster_of.get(e.a_id), cluster_of.get(e.b_id)
        if ca is not None and ca is cb and e.a_id != e.b_id and e.decision != NO_MATCH:
            inside.setdefault(e.a_id, []).append(e)
            inside.setdefault(e.b_id, []).append(e)
    out = []
    for x in sorted(inside):
        links = inside[x]
        if any(_pair(e.a_id, e.b_id) in linked for e in links):
            continue
        out.append((cluster_of[x], x, links))
    return out


def build_queue(
    clusters: Iterable[frozenset[str]],
    edges: Iterable[PairScore],
    cfg: MatchingConfig,
    *,
    cannot_link: Iterable[tuple[str, str]] = (),
    must_link: Iterable[tuple[str, str]] = (),
    weights: Sequence[float] = CALIBRATION,
    min_doubt: float = MIN_DOUBT,
    sure: float = SURE,
) -> list[QueueItem]:
    """The open questions about these clusters, best expected benefit first.

    ``clusters`` must hold every listing an edge touches (listings outside the
    re-clustered components included), so a question about two clusters sees
    all the evidence between them; a merge question is contested correctly
    when all the ambiguous edges of both its clusters are given
    (``merge_questions``).
    """
    clusters = list(clusters)
    edges = list(edges)
    items: list[QueueItem] = []
    for ca, cb, candidates, contested in merge_questions(
        clusters, edges, cfg, cannot_link=cannot_link
    ):
        sizes = (len(ca), len(cb))
        p, best = _most_likely(candidates, weights, sizes, contested)
        if not min_doubt <= p < sure:
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
                contested,
            )
        )

    # one split question per cluster: its member with the weakest best link
    weakest: dict[frozenset[str], tuple[float, str, PairScore]] = {}
    # a link inside a cluster is one of both its members' links: P once per link
    known: dict[int, float] = {}
    for c, x, links in split_candidates(clusters, edges, must_link=must_link):
        sizes = (len(c) - 1, 1)
        p, best = _most_likely(links, weights, sizes, False, known)
        if c not in weakest or p < weakest[c][0]:
            weakest[c] = (p, x, best)
    for c, (p, x, best) in weakest.items():
        if not min_doubt <= 1.0 - p < sure:
            continue
        partner = best.b_id if best.a_id == x else best.a_id
        items.append(QueueItem(SPLIT, x, partner, p, 1, tuple(sorted(c)), (x,), best))
    items.sort(key=lambda q: (-q.benefit, q.key))
    return items
