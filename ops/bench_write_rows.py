"""What formatting the rows of a commit costs on the command's side, per row kind.

    uv run python ops/bench_write_rows.py [--events 4000] [--repeat 5]

Matches a generated corpus in memory (``dedupe_batch``), then formats its rows
as the commit stage does: decision lines, blocking-index lines, event lines
(the commit stage's part: id, file id, record, component, canonical; and the
parse worker's ``event_rows``), canonical rows (``COPY`` and ``UPDATE``) and
outbox messages.  Prints the best of ``--repeat`` runs in µs per row (process
CPU time).  Figures: docs/performance.md, "The commit stage's writes".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


class _Sink:
    """A connection stand-in that keeps the last statement's parameters."""

    def execute(self, _statement: object, params: object = None) -> None:
        self.params = params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=4000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    from eventdedup.db import dedup, outbox
    from eventdedup.db.ahead import decision_line
    from eventdedup.db.dedup import _update_canonicals, prepare_events
    from eventdedup.db.events import copy_row, copy_text, event_rows
    from eventdedup.matching import dedupe_batch, load_matching_config
    from eventdedup.synth.corpus import Spec, synthetic_corpus

    cfg = load_matching_config(None)
    events = synthetic_corpus(Spec(1, None, args.events)).events
    result = dedupe_batch(events, cfg)
    prepared = prepare_events(events, cfg)
    scores = list(result.decisions)
    canonicals = list(result.canonicals)
    ids = [e.id for e in events]
    matched = {i: (prepared.record_json[i], n, n) for n, i in enumerate(ids)}
    rows = event_rows(events)
    entries = prepared.entries

    blocking = getattr(dedup, "blocking_lines", None) or (
        lambda new_ids, entries: [
            f"{copy_text(prefix)}\t{event_id}\t{slots}"
            for i in new_ids
            for event_id in (copy_text(i),)
            for prefix, slots in entries[i].items()
        ]
    )
    canonical_line = getattr(dedup, "canonical_line", None) or (
        lambda cid, c: copy_row((cid, *dedup._columns(c)))  # type: ignore[attr-defined]
    )

    def base_event_line(i: str, prefix: str, row: str, m: tuple[str, int, int]) -> str:
        return f"{copy_text(i)}{prefix}{row}\t{copy_text(m[0])}\t{m[1]}\t{m[2]}"

    line_of = getattr(sys.modules["eventdedup.db.events"], "event_line", base_event_line)

    def event_lines() -> None:
        for i in ids:
            line_of(i, "\t1\t", rows.events[i], matched[i])

    sink = _Sink()
    messages = [("canonical.created", dedup._summary(n, c)) for n, c in enumerate(canonicals)]
    dumps = getattr(outbox, "_dumps", None)
    if dumps is None:
        import json

        def dumps(d: object) -> str:  # what psycopg's JSON dumper does per message
            return json.dumps(d)

    n_keys = sum(len(entries[i]) for i in ids)
    kinds: list[tuple[str, int, Callable[[], object]]] = [
        ("decision line", len(scores), lambda: [decision_line(s) for s in scores]),
        ("blocking-index line", n_keys, lambda: blocking(ids, entries)),
        ("event line (commit stage)", len(ids), event_lines),
        ("event rows (parse worker)", len(ids), lambda: event_rows(events)),
        (
            "canonical COPY line",
            len(canonicals),
            lambda: [canonical_line(n, c) for n, c in enumerate(canonicals)],
        ),
        (
            "canonical UPDATE row",
            len(canonicals),
            lambda: _update_canonicals(sink, dict(enumerate(canonicals))),  # type: ignore[arg-type]
        ),
        ("outbox message JSON", len(messages), lambda: [dumps(d) for _, d in messages]),
    ]
    print(f"{len(ids)} events, {len(scores)} decisions, {len(canonicals)} canonicals")
    for name, n, fn in kinds:
        print(f"{name:28s} {1e6 * best(fn, args.repeat) / max(n, 1):7.2f} µs per row ({n} rows)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
