"""CPU time per event of the pure matching core against another tree, same run, alternating.

    git archive 31f25ac | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    uv run python ops/bench_core_ratio.py /tmp/base [--rounds 4] [--repeat 12]

Each round runs prepare + blocking + scoring on the dev sample in a fresh process per
tree (the other tree first, then this one), keeping the best of ``--repeat`` cold
passes (caches cleared) per process; the figures are the minimum over the rounds,
CPU time (``time.process_time``), so other jobs on a shared machine disturb them less.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]

#: run in a child process with the tree's root first on sys.path
_CHILD = """
import json, sys, time
root, repeat = sys.argv[1], int(sys.argv[2])
sys.path.insert(0, root)
import eventdedup
assert eventdedup.__file__.startswith(root), eventdedup.__file__
from eventdedup.matching import candidate_pairs, load_matching_config, prepare_event, score_pair
from eventdedup.matching.normalize import clear_caches
from eventdedup.testing import SAMPLE_CORPUS, load_corpus
cfg = load_matching_config(None)
events = [e for evs in load_corpus(SAMPLE_CORPUS).values() for e in evs]
best = {}
for _ in range(repeat):
    clear_caches()
    t0 = time.process_time()
    recs = {e.id: prepare_event(e, cfg) for e in events}
    t1 = time.process_time()
    pairs = candidate_pairs([recs[i] for i in sorted(recs)], [], cfg)
    t2 = time.process_time()
    for a, b in pairs:
        score_pair(recs[a], recs[b], cfg)
    t3 = time.process_time()
    for k, v in (("total", t3 - t0), ("prepare", t1 - t0), ("blocking", t2 - t1),
                 ("scoring", t3 - t2)):
        best[k] = min(best.get(k, v), v)
print(json.dumps({"events": len(events), "pairs": len(pairs), **best}))
"""


def measure(root: Path, repeat: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), str(repeat)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("other", type=Path, help="root of the tree to compare with")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=12)
    args = ap.parse_args(argv)
    best: dict[str, dict[str, float]] = {"other": {}, "this": {}}
    for _ in range(args.rounds):
        for name, root in (("other", args.other.resolve()), ("this", HERE)):
            r = measure(root, args.repeat)
            for k, v in r.items():
                best[name][k] = min(best[name].get(k, v), v)
    events = best["this"]["events"]
    for name in ("other", "this"):
        b = best[name]
        print(
            f"{name:<6} total {b['total']:.3f} s ({b['total'] / events * 1e6:.0f} µs/event)  "
            f"prepare {b['prepare']:.3f}  blocking {b['blocking']:.3f}  "
            f"scoring {b['scoring']:.3f}  pairs {int(b['pairs'])}"
        )
    for k in ("total", "prepare", "blocking", "scoring"):
        print(f"ratio {k:<8} {best['this'][k] / best['other'][k]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
