"""dedupe_batch: the whole pure pipeline in memory (evaluation + reference for incremental)."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from eventdedup.matching.blocking import candidate_pairs
from eventdedup.matching.clustering import ClusterResult, cluster_component
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import PairScore, score_pair
from eventdedup.matching.record import EventRecord, prepare_event
from eventdedup.matching.review import QueueItem, build_queue
from eventdedup.matching.synthesis import Canonical, synthesize
from eventdedup.model import SourceEvent


@attrs.frozen
class BatchResult:
    records: dict[str, EventRecord]
    clusters: tuple[frozenset[str], ...]
    decisions: tuple[PairScore, ...]
    canonicals: tuple[Canonical, ...]  # parallel to ``clusters``
    review: tuple[QueueItem, ...] = ()  # the review queue (matching.review), best first
    candidate_pair_count: int = 0


def score_candidates(
    records: dict[str, EventRecord], pairs: Sequence[tuple[str, str]], cfg: MatchingConfig
) -> list[PairScore]:
    return [score_pair(records[a], records[b], cfg) for a, b in pairs]


def cluster_records(
    records: dict[str, EventRecord],
    decisions: Sequence[PairScore],
    cfg: MatchingConfig,
    must_link: Sequence[tuple[str, str]] = (),
    cannot_link: Sequence[tuple[str, str]] = (),
) -> ClusterResult:
    return cluster_component(
        records.keys(),
        decisions,
        must_link,
        cannot_link,
        cfg,
        days={i: r.days for i, r in records.items()},
    )


def dedupe_batch(
    events: Sequence[SourceEvent],
    cfg: MatchingConfig,
    must_link: Sequence[tuple[str, str]] = (),
    cannot_link: Sequence[tuple[str, str]] = (),
) -> BatchResult:
    records = {e.id: prepare_event(e, cfg) for e in events}
    if len(records) != len(events):
        raise ValueError("duplicate event ids in batch")
    ordered = [records[i] for i in sorted(records)]
    pairs = candidate_pairs(ordered, [], cfg)
    decisions = score_candidates(records, pairs, cfg)
    result = cluster_records(records, decisions, cfg, must_link, cannot_link)
    by_member: dict[str, list[PairScore]] = {}
    for d in decisions:
        by_member.setdefault(d.a_id, []).append(d)
    canonicals = []
    for cluster in result.clusters:
        edges = [d for m in sorted(cluster) for d in by_member.get(m, ()) if d.b_id in cluster]
        canonicals.append(synthesize([records[m] for m in sorted(cluster)], edges, None, cfg))
    return BatchResult(
        records=records,
        clusters=result.clusters,
        decisions=tuple(decisions),
        canonicals=tuple(canonicals),
        review=tuple(
            build_queue(
                result.clusters, decisions, cfg, cannot_link=cannot_link, must_link=must_link
            )
        ),
        candidate_pair_count=len(pairs),
    )
