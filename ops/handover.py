"""What the hand-over of a parsed file between the parse worker and the commit stage costs.

uv run python ops/handover.py [--events 4000] [--repeat 5]

Parses generated 200-event files in this process as the parse worker does
(``parse_file(lean=True)`` with the deduplicator's preparer), then times, per event, the
worker's ``pickle.dumps`` of each parsed file and the command's ``pickle.loads`` of it (the
best of ``--repeat`` rounds, process CPU time), the same for the files parsed with their
whole events (``lean=False``, what was handed over before), and the parse steps themselves
(``load_file`` including its depth check).  Prints the bytes per event too.  Figures:
docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import gc
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eventdedup.db.dedup import DbDeduplicator  # noqa: E402
from eventdedup.ingest.loader import _check_depth, load_file  # noqa: E402
from eventdedup.matching.config import load_matching_config  # noqa: E402
from eventdedup.pipeline import ParsedFile, parse_file  # noqa: E402
from eventdedup.synth.generator import generate, take  # noqa: E402


def best_ms_per_event(fn: Callable[[], object], events: int, repeat: int) -> float:
    """The lowest process CPU time of ``repeat`` calls, in ms per event (no GC inside)."""
    times = []
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
        gc.enable()
    return 1000 * min(times) / events


def check_depth(text: str) -> bool:
    _check_depth(text, 64)
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    prepare = DbDeduplicator(load_matching_config()).preparer()
    with tempfile.TemporaryDirectory(prefix="handover-") as tmp:
        paths = []
        for f in take(generate(1, file_events=200), args.events):
            path = Path(tmp) / f.name
            path.write_bytes(f.to_bytes())
            paths.append(path)
        datas = [p.read_bytes() for p in paths]
        lean = [parse_file(p, 50 << 20, 10_000, prepare, lean=True) for p in paths]
        whole = [parse_file(p, 50 << 20, 10_000, prepare) for p in paths]
    events = sum(len(p.loaded.events) for p in lean if p.loaded is not None)
    proto = pickle.HIGHEST_PROTOCOL

    def dumps(parsed: list[ParsedFile]) -> list[bytes]:
        return [pickle.dumps(p, protocol=proto) for p in parsed]

    blobs = {"lean": dumps(lean), "whole events": dumps(whole)}
    texts = [d.decode() for d in datas]
    figures = {}
    for kind, parsed in (("lean", lean), ("whole events", whole)):
        figures[f"pickle, {kind} (worker)"] = best_ms_per_event(
            functools.partial(dumps, parsed), events, args.repeat
        )
        figures[f"unpickle, {kind} (command)"] = best_ms_per_event(
            functools.partial(lambda bs: [pickle.loads(b) for b in bs], blobs[kind]),
            events,
            args.repeat,
        )
    figures |= {
        "load_file (worker)": best_ms_per_event(
            lambda: [load_file(d, p.name) for d, p in zip(datas, paths, strict=True)],
            events,
            args.repeat,
        ),
        "_check_depth (worker)": best_ms_per_event(
            lambda: [check_depth(t) for t in texts], events, args.repeat
        ),
    }
    print(f"{events} events in {len(lean)} files")
    for name, ms in figures.items():
        print(f"  {name:34s} {1000 * ms:8.1f} µs per event")
    for kind, bs in blobs.items():
        print(f"  {'bytes per event, ' + kind:34s} {sum(map(len, bs)) / events:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
