"""Pure dedup engine: normalise, block, score, cluster, synthesise (no I/O except config).

Section numbers (§) in comments of this package refer to docs/domain.md; §17 lists
what this engine fixes. docs/matching-history.md records how the rules were chosen.
"""

from eventdedup.matching.batch import BatchResult, dedupe_batch
from eventdedup.matching.blocking import blocking_keys, candidate_pairs
from eventdedup.matching.canonical_ids import CanonicalAssignment, assign_canonical_ids
from eventdedup.matching.clustering import ClusterResult, cluster_component
from eventdedup.matching.config import MatchingConfig, MatchingConfigError, load_matching_config
from eventdedup.matching.decision import PairScore, score_pair
from eventdedup.matching.evaluation import evaluate_clusters, false_merges, missed_pairs
from eventdedup.matching.incremental import FileReport, IncrementalState, ingest_file
from eventdedup.matching.record import EventRecord, prepare_event
from eventdedup.matching.synthesis import Canonical, synthesize

__all__ = [
    "BatchResult",
    "Canonical",
    "CanonicalAssignment",
    "ClusterResult",
    "EventRecord",
    "FileReport",
    "IncrementalState",
    "MatchingConfig",
    "MatchingConfigError",
    "PairScore",
    "assign_canonical_ids",
    "blocking_keys",
    "candidate_pairs",
    "cluster_component",
    "dedupe_batch",
    "evaluate_clusters",
    "false_merges",
    "ingest_file",
    "load_matching_config",
    "missed_pairs",
    "prepare_event",
    "score_pair",
    "synthesize",
]
