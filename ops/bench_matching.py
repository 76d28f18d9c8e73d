"""Benchmark + quality report of the pure matching core on a corpus with ground truth.

    uv run python ops/bench_matching.py [--corpus DIR] [--config YAML] [--json] [--split]
    uv run python ops/bench_matching.py --suite [--no-big] [--json]

Prints events/s (prepare + blocking + scoring + clustering + synthesis),
candidate pairs per event, scored pairs/s, blocking recall, pairwise and
B-cubed quality, look-alike false merges; ``--split`` also evaluates each half
of the files separately (an overfitting sanity check).

``--suite`` measures the dev sample and the synthetic corpora of
``eventdedup.synth.corpus.BENCH_SPECS`` (same vocabulary as training, two
held-out vocabularies at 3,000 listings, one at 20,000) in one run and prints
one table; the model is never trained or tuned on the held-out vocabularies.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventdedup.matching import (
    candidate_pairs,
    evaluate_clusters,
    load_matching_config,
    prepare_event,
    score_pair,
    synthesize,
)
from eventdedup.matching.batch import cluster_records
from eventdedup.matching.evaluation import lookalike_false_merges
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.review import build_queue
from eventdedup.synth.corpus import BENCH_SPECS, synthetic_corpus
from eventdedup.testing import SAMPLE_CORPUS, load_corpus, load_families, load_truth


def run(events, truth, groups, cfg) -> dict:
    clear_caches()  # every run starts cold, like a fresh daemon
    t0 = time.perf_counter()
    records = {e.id: prepare_event(e, cfg) for e in events}
    t1 = time.perf_counter()
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], cfg)
    t2 = time.perf_counter()
    decisions = [score_pair(records[a], records[b], cfg) for a, b in pairs]
    t3 = time.perf_counter()
    result = cluster_records(records, decisions, cfg)
    t4 = time.perf_counter()
    by_a = defaultdict(list)
    for d in decisions:
        by_a[d.a_id].append(d)
    for cl in result.clusters:
        edges = [d for m in sorted(cl) for d in by_a.get(m, ()) if d.b_id in cl]
        synthesize([records[m] for m in sorted(cl)], edges, None, cfg)
    t5 = time.perf_counter()

    ids = set(records)
    keys = defaultdict(list)
    for i in sorted(ids):
        if i in truth:
            keys[truth[i]].append(i)
    true_pairs = {p for v in keys.values() for p in itertools.combinations(sorted(v), 2)}
    found = true_pairs & set(pairs)
    sub_truth = {i: k for i, k in truth.items() if i in ids}
    quality = evaluate_clusters(result.clusters, sub_truth)
    total = t5 - t0
    return {
        "events": len(records),
        "seconds": {
            "prepare": round(t1 - t0, 3),
            "blocking": round(t2 - t1, 3),
            "scoring": round(t3 - t2, 3),
            "clustering": round(t4 - t3, 3),
            "synthesis": round(t5 - t4, 3),
            "total": round(total, 3),
        },
        "events_per_second": round(len(records) / total, 1),
        "candidate_pairs": len(pairs),
        "candidate_pairs_per_event": round(len(pairs) / max(1, len(records)), 2),
        "scored_pairs_per_second": round(len(pairs) / max(1e-9, t3 - t2), 1),
        "blocking_recall": round(len(found) / len(true_pairs), 4) if true_pairs else None,
        "decisions": {
            k: sum(1 for d in decisions if d.decision == k)
            for k in ("match", "ambiguous", "no_match")
        },
        "quality": quality,
        "lookalike_false_merges": lookalike_false_merges(result.clusters, sub_truth, groups),
        # open review questions (the queue of matching/review.py)
        "review_items": len(build_queue(result.clusters, decisions, cfg)),
    }


def suite(cfg, big: bool, as_json: bool) -> int:
    corpus = load_corpus(SAMPLE_CORPUS)
    groups = {i: f.get("group") for i, f in load_families(SAMPLE_CORPUS).items()}
    dev = [e for evs in corpus.values() for e in evs]
    out = {"dev": run(dev, load_truth(SAMPLE_CORPUS), groups, cfg)}
    for name, spec in BENCH_SPECS.items():
        if spec.events > 3000 and not big:
            continue
        c = synthetic_corpus(spec)
        out[name] = run(c.events, c.truth, c.groups, cfg)
    if as_json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(f"{'corpus':<20} {'events':>6} {'P':>6} {'R':>6} {'F1':>6} {'ev/s':>6} {'pairs/ev':>8}")
    for name, r in out.items():
        q = r["quality"]
        print(
            f"{name:<20} {r['events']:>6} {q['pairwise_precision']:>6.3f} "
            f"{q['pairwise_recall']:>6.3f} {q['pairwise_f1']:>6.3f} "
            f"{r['events_per_second']:>6.0f} {r['candidate_pairs_per_event']:>8}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=SAMPLE_CORPUS)
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--split", action="store_true", help="also evaluate two halves of the files")
    ap.add_argument("--suite", action="store_true", help="dev + the synthetic corpora")
    ap.add_argument("--no-big", action="store_true", help="--suite without the 20,000 one")
    args = ap.parse_args(argv)
    cfg = load_matching_config(args.config)
    if args.suite:
        return suite(cfg, not args.no_big, args.json)
    corpus = load_corpus(args.corpus)
    truth = load_truth(args.corpus)
    fam_path = args.corpus / "families.jsonl"
    groups = (
        {i: f.get("group") for i, f in load_families(args.corpus).items()}
        if fam_path.exists()
        else {}
    )
    events = [e for evs in corpus.values() for e in evs]
    out = {"all": run(events, truth, groups, cfg)}
    if args.split:
        names = sorted(corpus)
        for label, half in (("half_a", names[0::2]), ("half_b", names[1::2])):
            out[label] = run([e for n in half for e in corpus[n]], truth, groups, cfg)
            out[label]["files"] = half
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    for label, r in out.items():
        q = r["quality"]
        print(
            f"[{label}] {r['events']} events in {r['seconds']['total']:.2f} s "
            f"-> {r['events_per_second']:.0f} events/s  {r['seconds']}"
        )
        print(
            f"  candidate pairs {r['candidate_pairs']} ({r['candidate_pairs_per_event']}/event), "
            f"scored {r['scored_pairs_per_second']:.0f} pairs/s, "
            f"blocking recall {r['blocking_recall']}"
        )
        print(f"  decisions {r['decisions']}  review items {r['review_items']}")
        print(
            f"  pairwise P {q['pairwise_precision']:.4f} R {q['pairwise_recall']:.4f} "
            f"F1 {q['pairwise_f1']:.4f} | B-cubed P {q['bcubed_precision']:.4f} "
            f"R {q['bcubed_recall']:.4f} F1 {q['bcubed_f1']:.4f} | "
            f"look-alike false merges {r['lookalike_false_merges']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
