"""A fixed workload of the pure matching core, for instruction counts, profiles and hashes.

    uv run python ops/core_workload.py dump  CORPUS OUT.pickle   # events once, pickled
    uv run python ops/core_workload.py run   IN.pickle [--phases] [--hash] [--profile OUT]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        uv run python ops/core_workload.py run IN.pickle     # minus a ``--load-only`` run

CORPUS is ``dev`` (the sample) or ``SEED:VOCAB:EVENTS`` (``ops/synthetic.py``'s
generator, e.g. ``404:7003:20000``). ``run`` does prepare + blocking + scoring +
clustering + synthesis, as ``ops/bench_matching.py`` does; ``--phases`` prints CPU
seconds per phase, ``--hash`` a digest of every decision (all fields of every
``PairScore``), the clusters and the canonicals (the same digest before and after a
change means no decision changed), ``--load-only`` stops after loading (the
baseline to subtract from an instruction count).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventdedup.matching import (
    candidate_pairs,
    load_matching_config,
    prepare_event,
    score_pair,
    synthesize,
)
from eventdedup.matching.batch import cluster_records
from eventdedup.matching.normalize import clear_caches
from eventdedup.model import SourceEvent


def dump(corpus: str, out: Path) -> None:
    if corpus == "dev":
        from eventdedup.testing import SAMPLE_CORPUS, load_corpus

        events = [e for evs in load_corpus(SAMPLE_CORPUS).values() for e in evs]
    else:
        from eventdedup.synth.corpus import Spec, synthetic_corpus

        seed, vocab, n = corpus.split(":")
        events = synthetic_corpus(Spec(int(seed), int(vocab) if vocab else None, int(n))).events
    out.write_bytes(pickle.dumps(events))
    print(f"{len(events)} events -> {out}")


def run(events: list[SourceEvent], want_hash: bool, phases: bool) -> None:
    cfg = load_matching_config(None)
    clear_caches()
    clock = time.process_time
    t0 = clock()
    records = {e.id: prepare_event(e, cfg) for e in events}
    t1 = clock()
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], cfg)
    t2 = clock()
    decisions = [score_pair(records[a], records[b], cfg) for a, b in pairs]
    t3 = clock()
    result = cluster_records(records, decisions, cfg)
    t4 = clock()
    by_a = defaultdict(list)
    for d in decisions:
        by_a[d.a_id].append(d)
    canonicals = []
    for cl in result.clusters:
        edges = [d for m in sorted(cl) for d in by_a.get(m, ()) if d.b_id in cl]
        canonicals.append(synthesize([records[m] for m in sorted(cl)], edges, None, cfg))
    t5 = clock()
    if phases:
        print(
            f"events {len(records)} pairs {len(pairs)} total {t5 - t0:.3f}  "
            f"prepare {t1 - t0:.3f} blocking {t2 - t1:.3f} scoring {t3 - t2:.3f} "
            f"clustering {t4 - t3:.3f} synthesis {t5 - t4:.3f}"
        )
    if want_hash:
        h = {k: hashlib.sha256() for k in ("records", "decisions", "clusters", "canonicals")}
        for i in sorted(records):
            h["records"].update(repr(records[i].to_json()).encode())
        for d in decisions:
            h["decisions"].update(repr(d).encode())
        for cl in result.clusters:
            h["clusters"].update(repr(sorted(cl)).encode())
        for c in canonicals:
            h["canonicals"].update(repr(c).encode())
        print(" ".join(f"{k} {v.hexdigest()[:16]}" for k, v in h.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("corpus")
    d.add_argument("out", type=Path)
    r = sub.add_parser("run")
    r.add_argument("events", type=Path)
    r.add_argument("--hash", action="store_true")
    r.add_argument("--phases", action="store_true")
    r.add_argument("--load-only", action="store_true")
    r.add_argument("--profile", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "dump":
        dump(args.corpus, args.out)
        return 0
    events = pickle.loads(args.events.read_bytes())
    if args.load_only:
        load_matching_config(None)
        return 0
    if args.profile is not None:
        prof = cProfile.Profile()
        prof.runcall(run, events, args.hash, args.phases)
        prof.dump_stats(str(args.profile))
    else:
        run(events, args.hash, args.phases)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
