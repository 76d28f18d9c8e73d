"""Where the CPU of `eventdedup ingest` goes: the command's commit stage by step, the parse
worker, and PostgreSQL's statements.

uv run --with py-spy python ops/profile_ingest.py [--events 20000] [--batch-files 10] [--out DIR]

Runs the benchmark's ingest child (``ops/bench.py _ingest``: ``runner.ingest_paths`` on a
generated corpus) under py-spy (sampling every thread of the command and of its parse worker,
``--gil``: only the thread holding the GIL, i.e. Python's own CPU, not waits on the
database), against a fresh embedded PostgreSQL with ``pg_stat_statements`` loaded.  Prints the
samples by step (the innermost function of the pipeline a sample is in) and the statements by
total execution time (a ``COPY FROM STDIN`` counts the time the client took to send it).
Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: innermost pipeline function of a commit-stage sample -> its step
STEPS = {
    "score_pair": "scoring",
    "_stored_pairs": "candidates: lookup query",
    "_load_stored": "candidates: stored records (query, from_json)",
    "_candidate_pairs": "blocking (pairs in memory)",
    "_pairs_between": "blocking (pairs in memory)",
    "_component_keys": "locks",
    "_lock_all": "locks",
    "wanted": "locks",
    "share_matching": "locks",
    "_insert_decisions": "decisions: rows + COPY",
    "_merge_components": "components",
    "_load_members": "load components",
    "_load_decisions": "load components",
    "_load_constraints": "load components",
    "_load_canonicals": "load components",
    "cluster_component": "clustering",
    "assign_canonical_ids": "clustering",
    "synthesize": "synthesis",
    "Canonical.changed_fields": "synthesis",
    "_summary": "feed messages",
    "_update_canonicals": "canonicals: write",
    "_insert_canonicals": "canonicals: write",
    "_redirect": "canonicals: write",
    "_write_members": "events: rows + COPY",
    "insert_event_groups": "events: rows + COPY",
    "_review_queue": "review",
    "_refresh_review": "review",
    "append": "outbox",
    "update_durations": "outbox",
    "FileProcessor._split_known": "store (claims, known ids, file rows)",
    "try_lock_file": "store (claims, known ids, file rows)",
    "completed_by_hash": "store (claims, known ids, file rows)",
    "FileProcessor._insert_completed": "store (claims, known ids, file rows)",
    "FileProcessor._finish": "moves",
    "DbDeduplicator.committed": "cache committed records",
    "_next_component_ids": "component ids",
}
WORKER_STEPS = ("load_file", "event_rows", "prepare_events", "read_limited")


def classify(frames: list[str]) -> tuple[str, str]:
    """``(process, step)`` of one collapsed py-spy stack."""
    process = "worker" if sum(f.startswith("process ") for f in frames) > 1 else "command"
    names = [f.split(" (")[0] for f in frames if not f.startswith("process ")]
    if process == "worker":
        if "parse_file" in names:
            below = names[names.index("parse_file") + 1 :]
            return process, "parse: " + next((n for n in below if n in WORKER_STEPS), "other")
        if "parse_pickled" in names:
            return process, "pickling the parsed file"
        return process, "start-up, imports, waiting"
    # a batch opened ahead (``FileProcessor.open_batch``) runs beside the commit of the one
    # before it: its steps count as the commit stage's
    if any(
        n in names
        for n in ("FileProcessor.commit_batch", "FileProcessor.commit", "FileProcessor.open_batch")
    ):
        for name in reversed(names):
            for fn, step in STEPS.items():
                if name == fn or name.endswith("." + fn):
                    return process, "commit | " + step
        return process, "commit | other"
    if "to_thread_run_sync.<locals>.worker_fn" in names:
        return process, "unpickling parsed files (thread)"
    if any(n.startswith("Runner.") or n == "unrolled_run" for n in names):
        return process, "event loop"
    return process, "start-up, imports, corpus"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch-files", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("profile-ingest"))
    args = ap.parse_args(argv)
    import psycopg

    from eventdedup.config import Settings
    from eventdedup.db.embedded import EmbeddedPostgres

    args.out.mkdir(parents=True, exist_ok=True)
    stacks = args.out / "stacks.txt"
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        work = Path(tmp)
        server = EmbeddedPostgres(
            work / "pgdata", shared_buffers=Settings().embedded_shared_buffers
        )
        server.start()
        server.stop()
        with (work / "pgdata" / "postgresql.conf").open("a") as conf:
            conf.write("\nshared_preload_libraries = 'pg_stat_statements'\n")
        url = server.start()
        try:
            host = server.socket_dir()
            with psycopg.connect(
                host=host, user="postgres", dbname="eventdedup", autocommit=True
            ) as c:
                c.execute("CREATE EXTENSION pg_stat_statements")
            child = [sys.executable, str(ROOT / "ops" / "bench.py"), "_ingest", url]
            child += [str(args.events), "1", str(work), "1", str(args.batch_files)]
            spy = ["py-spy", "record", "--subprocesses", "--nonblocking", "--gil"]
            spy += ["--rate", "200", "--format", "raw", "-o", str(stacks), "--"]
            subprocess.run(spy + child, check=True)
            print((work / "ingest.json").read_text())
            with psycopg.connect(
                host=host, user="postgres", dbname="eventdedup", autocommit=True
            ) as c:
                statements = c.execute(
                    "SELECT calls, round(total_exec_time::numeric), rows, "
                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 100) "
                    "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 20"
                ).fetchall()
        finally:
            server.stop()
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in stacks.read_text().splitlines():
        stack, n = line.rsplit(" ", 1)
        process, step = classify(stack.split(";"))
        counts[process][step] += int(n)
    for process, steps in counts.items():
        total = sum(steps.values())
        print(f"\n{process}: {total} samples")
        for step, n in steps.most_common():
            print(f"  {100 * n / total:5.1f} %  {step}")
    print("\nPostgreSQL: calls, ms, rows, statement")
    for row in statements:
        print("  " + " | ".join(str(x) for x in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
