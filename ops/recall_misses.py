"""Missed true pairs (false negatives) of synthetic corpora, by kind and by what stops them.

    uv run python ops/recall_misses.py --vocab 21 22 23 [--seed 6000] [--events 3000]
    uv run python ops/recall_misses.py --training      # the model's own training corpora

For every true pair the clusters keep apart, the *kind* is read off the two
listings (how they differ: the town, an address-only venue, a range against a
day, start times 15+ min apart, a different title — headline or label), and
the *stop* is what kept them apart: no shared blocking key, a guard's no-match,
a no-match by score, a pair left ambiguous, or a match cut in clustering. Only
counts are printed: meant for tuning vocabularies, and for held-out ones by kind
only (never tune on the listings of a held-out corpus).
"""

from __future__ import annotations

import argparse
import itertools
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventdedup.matching import (
    candidate_pairs,
    load_matching_config,
    prepare_event,
    score_pair,
)
from eventdedup.matching.batch import cluster_records
from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.decision import PairScore, same_town
from eventdedup.matching.normalize import clear_caches
from eventdedup.matching.pairmodel import GUARD_PREFIXES
from eventdedup.matching.record import EventRecord
from eventdedup.matching.signals import title_signal
from eventdedup.synth.corpus import Spec, synthetic_corpus

_ADDRESS = re.compile(r"\d+\s*[a-z]?\s*$", re.I)


def kinds(a: EventRecord, b: EventRecord, title: float) -> tuple[str, ...]:
    """How two listings of one event differ (several kinds may hold)."""
    out = []
    if not same_town(a, b):
        out.append("town")
    if any(r.location_name and _ADDRESS.search(r.location_name) for r in (a, b)):
        out.append("address")
    if set(a.days) != set(b.days):
        out.append("days")
    common = set(a.day_minutes) & set(b.day_minutes)
    if common and all(
        min(abs(x - y) for x in a.day_minutes[d] for y in b.day_minutes[d]) >= 15 for d in common
    ):
        out.append("time")
    if title < 0.85:
        out.append("title")
    return tuple(out) or ("other",)


def stop(score: PairScore) -> str:
    d, reason = score.decision, score.reason
    if d == "match":
        return "match, cut in clustering"
    if d == "ambiguous":
        return "ambiguous"
    if reason.startswith(GUARD_PREFIXES):
        return "guard: " + next(p for p in GUARD_PREFIXES if reason.startswith(p)).strip("' ")
    return "no match by score"


def analyse(
    spec: Spec,
    cfg: MatchingConfig,
    detail: Counter[tuple[str, str]],
    by_kind: defaultdict[str, Counter[str]],
) -> tuple[int, int, int]:
    clear_caches()
    corpus = synthetic_corpus(spec)
    records = {e.id: prepare_event(e, cfg) for e in corpus.events}
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], cfg)
    scores = {(a, b): score_pair(records[a], records[b], cfg) for a, b in pairs}
    result = cluster_records(records, list(scores.values()), cfg)
    where = {m: n for n, cl in enumerate(result.clusters) for m in cl}
    members: defaultdict[str, list[str]] = defaultdict(list)
    for i, k in corpus.truth.items():
        if i in records:
            members[k].append(i)
    tp = fn = 0
    for ids in members.values():
        for a, b in itertools.combinations(sorted(ids), 2):
            if where.get(a, a) == where.get(b, b) and a in where:
                tp += 1
                continue
            fn += 1
            s = scores.get((a, b))
            if s is None:
                title, why = title_signal(records[a], records[b], cfg), "no shared blocking key"
            else:
                title, why = s.title, stop(s)
            shown = kinds(records[a], records[b], title)
            detail[("+".join(shown), why)] += 1
            for one in shown:
                by_kind[one][why] += 1
    return tp, fn, len(pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vocab", type=int, nargs="*", default=[])
    ap.add_argument("--training", action="store_true", help="the model's training corpora")
    ap.add_argument("--seed", type=int, default=6000, help="generator seed base")
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args(argv)
    cfg = load_matching_config(None)
    specs = [Spec(args.seed + v, v, args.events) for v in args.vocab]
    if args.training:
        from eventdedup.train import TRAIN_SPECS

        specs += list(TRAIN_SPECS)
    detail: Counter[tuple[str, str]] = Counter()
    by_kind: defaultdict[str, Counter[str]] = defaultdict(Counter)
    tp = fn = cand = 0
    for spec in specs:
        t, f, c = analyse(spec, cfg, detail, by_kind)
        print(f"{spec.describe()}: true pairs kept {t}, missed {f}, candidates {c}", flush=True)
        tp, fn, cand = tp + t, fn + f, cand + c
    print(f"\nall: true pairs {tp + fn}, missed {fn} (recall {tp / max(1, tp + fn):.3f})")
    print("\nby kind (a pair counts under each kind it shows):")
    for kind, stops in sorted(by_kind.items(), key=lambda kv: -sum(kv[1].values())):
        listed = ", ".join(f"{w} {n}" for w, n in stops.most_common())
        print(f"  {kind:<8} {sum(stops.values()):>5}  {listed}")
    print("\nby combination and stop:")
    for (combo, w), n in detail.most_common(args.top):
        print(f"  {n:>5}  {combo:<24} {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
