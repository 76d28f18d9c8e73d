"""What the hand-over of a parsed file between the parse worker and the commit stage costs.

uv run python ops/handover.py [--events 4000] [--repeat 5]

Parses generated 200-event files in this process as the parse worker does
(``parse_file`` with the deduplicator's preparer), then times, per event, the worker's
``pickle.dumps`` of each parsed file and the command's ``pickle.loads`` of it (the best of
``--repeat`` rounds, process CPU time), and the parse steps themselves (``load_file``
including its depth check, ``prepare``).  Prints the bytes per event too.  Figures:
docs/performance.md.
"""

from __future__ import annotations

import argparse
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
        parsed: list[ParsedFile] = [parse_file(p, 50 << 20, 10_000, prepare) for p in paths]
    events = sum(len(p.loaded.events) for p in parsed if p.loaded is not None)
    proto = pickle.HIGHEST_PROTOCOL
    blobs = [pickle.dumps(p, protocol=proto) for p in parsed]
    texts = [d.decode() for d in datas]
    figures = {
        "pickle (worker)": best_ms_per_event(
            lambda: [pickle.dumps(p, protocol=proto) for p in parsed], events, args.repeat
        ),
        "unpickle (command)": best_ms_per_event(
            lambda: [pickle.loads(b) for b in blobs], events, args.repeat
        ),
        "load_file (worker)": best_ms_per_event(
            lambda: [load_file(d, p.name) for d, p in zip(datas, paths, strict=True)],
            events,
            args.repeat,
        ),
        "_check_depth (worker)": best_ms_per_event(
            lambda: [check_depth(t) for t in texts], events, args.repeat
        ),
    }
    print(f"{events} events in {len(parsed)} files")
    for name, ms in figures.items():
        print(f"  {name:24s} {1000 * ms:8.1f} µs per event")
    print(f"  {'bytes per event':24s} {sum(map(len, blobs)) / events:8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
