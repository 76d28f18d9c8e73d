"""Replicas on one PostgreSQL: throughput with 1 vs N, and how much of a file holds locks.

uv run python ops/bench_replicas.py [--regions 4] [--periods] [--events 8000]
                                    [--replicas 1,2] [--seed 1] [--json PATH] [--workdir DIR]

One embedded PostgreSQL in a temporary directory (removed afterwards); one
fresh database per replica count.  The corpus is ``eventdedup.synth.regions``:
``--regions`` generated regions side by side (with ``--periods``: periods of
one region, years apart), their files taken in turn, as a shared inbox would
offer them.  Each replica is a process of its own (as a
daemon on another machine would be) that takes the next file from a shared
queue and runs ``FileProcessor.process`` on it: parse, store, match, commit,
the CLI's path.  Reported per replica count: events/s over the whole run,
per-file milliseconds (parse + commit), the share of that time a file holds
its locks (from its region locks being granted to its commit), waiting for
locks, how many region and component locks a file takes, restarts (a
component lock was busy), and whether the clusters equal those of one replica.

A file that fails with a lost connection, a deadlock or a serialization failure
is retried from the start, as the processor actor does (``DB_DOWN``).  A replica
that fails for good still reports, and the run stops with its error; one that
dies without a word (killed) stops the run too.  While no file has finished for
``STALL_S`` seconds the sessions waiting for a lock and their holders are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import cpu_seconds, postmaster_pid, server_cpu_seconds  # ops/bench.py

from eventdedup.synth.regions import interleaved, regions_overrides

#: attempts per file (the processor actor retries for as long as it takes)
ATTEMPTS = 5
#: seconds without a finished file before the lock waits are printed
STALL_S = 60.0


def _replica(
    url: str, overrides: dict[str, Any], work: str, queue: Any, out: Any, go: Any, whole: bool
) -> None:
    """One replica: process files from ``queue`` until ``None``; one record per file to ``out``.

    ``whole``: every file takes the matching lock exclusive first, as all files did
    before the region locks (for comparison).
    """
    import sqlalchemy as sa

    from eventdedup.db.dedup import DbDeduplicator
    from eventdedup.db.engine import create_engine
    from eventdedup.db.locks import MATCH_LOCK
    from eventdedup.matching import MatchingConfig, load_matching_config
    from eventdedup.matching.config import deep_merge
    from eventdedup.pipeline import FileProcessor

    cfg = MatchingConfig.from_json(deep_merge(load_matching_config(None).to_json(), overrides))

    class Recording(DbDeduplicator):
        committed_at = 0.0

        def apply(self, conn: Any, events: Any, *args: Any, **kwargs: Any) -> Any:
            if whole and events:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MATCH_LOCK)))
            return super().apply(conn, events, *args, **kwargs)

        def committed(self) -> None:
            self.committed_at = time.monotonic()
            super().committed()

    dedup = Recording(cfg)
    root = Path(work)
    files = FileProcessor(
        engine=create_engine(url),
        archive_dir=root / "archive",
        dead_letter_dir=root / "dead",
        deduplicator=dedup,
        replica=f"bench-{os.getpid()}",
    )
    go.wait()
    cpu0 = cpu_seconds()
    try:
        _replica_loop(files, dedup, queue, out)
    except BaseException as exc:
        out.put({"pid": os.getpid(), "error": f"{type(exc).__name__}: {exc}"})
        raise
    out.put({"cpu_s": cpu_seconds() - cpu0})


def _replica_loop(files: Any, dedup: Any, queue: Any, out: Any) -> None:
    from eventdedup.db.engine import DB_DOWN

    while (path := queue.get()) is not None:
        dedup.locks = None
        started = time.monotonic()
        for attempt in range(ATTEMPTS):
            try:
                outcome = files.process(Path(path))
                break
            except DB_DOWN as exc:  # a deadlock, a serialization failure, a lost connection
                if attempt + 1 == ATTEMPTS:
                    raise
                print(f"{Path(path).name}: {exc.__class__.__name__}, again", file=sys.stderr)
                time.sleep(0.1 * 2**attempt)
        locks = dedup.locks
        out.put(
            {
                "pid": os.getpid(),
                "outcome": outcome.outcome,
                "events": outcome.events_accepted,
                "started": started,
                "granted": locks.acquired_at if locks else None,
                "ended": dedup.committed_at,
                "wait_ms": outcome.timings.get("match_lock", 0.0),
                "regions": locks.regions if locks else 0,
                "titles": locks.titles if locks else 0,
                "components": locks.components if locks else 0,
                "restarts": locks.restarts if locks else 0,
            }
        )


def run(
    url: str,
    paths: list[Path],
    replicas: int,
    overrides: dict[str, Any],
    work: Path,
    whole: bool = False,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    for path in paths:
        queue.put(str(path))
    for _ in range(replicas):
        queue.put(None)
    procs = [
        ctx.Process(target=_replica, args=(url, overrides, str(work), queue, out, go, whole))
        for _ in range(replicas)
    ]
    for p in procs:
        p.start()
    waits: dict[str, int] = {}
    sampling = threading.Event()
    sampler = threading.Thread(target=_sample_waits, args=(url, waits, sampling), daemon=True)
    try:
        time.sleep(3)  # imports and connections before the clock starts
        load = os.getloadavg()[0]
        sampler.start()
        import sqlalchemy as sa

        probe = sa.create_engine(url, poolclass=sa.pool.NullPool)
        postmaster = postmaster_pid(probe)
        pg0 = server_cpu_seconds(postmaster)
        began = time.monotonic()
        go.set()
        records: list[dict[str, Any]] = []
        replica_cpu = 0.0
        finished = 0
        for r in _records(out, procs, url):
            if "error" in r:
                raise RuntimeError(f"replica {r['pid']} failed: {r['error']}")
            if "cpu_s" in r:
                finished += 1
                replica_cpu += r["cpu_s"]
                if finished == replicas:
                    break
            else:
                records.append(r)
        pg_cpu = server_cpu_seconds(postmaster) - pg0
        for p in procs:
            p.join()
    finally:
        for p in procs:  # after a failure: the replicas still running stop with the run
            if p.is_alive():
                p.terminate()
                p.join()
        sampling.set()
        if sampler.is_alive():
            sampler.join()
    ended = max(r["ended"] for r in records)
    events = max(1, sum(r["events"] for r in records))
    return summarize(records, ended - began, replicas, load) | {
        "waits_sampled": waits,
        "cpu_ms_per_event_replicas": round(replica_cpu * 1000 / events, 2),
        "cpu_ms_per_event_postgres": round(pg_cpu * 1000 / events, 2),
    }


def _records(out: Any, procs: list[Any], url: str) -> Any:
    """The replicas' records as they come; raises once a replica has died without its last."""
    import queue as queues

    quiet = 0.0
    while True:
        try:
            yield out.get(timeout=1.0)
            quiet = 0.0
            continue
        except queues.Empty:
            quiet += 1.0
        # a replica's last record is put before it exits: one more look, then it is lost
        dead = [p for p in procs if p.exitcode is not None]
        if dead:
            try:
                yield out.get(timeout=1.0)
                continue
            except queues.Empty:
                codes = ", ".join(f"{p.pid}: exit code {p.exitcode}" for p in dead)
                raise RuntimeError(f"a replica ended without reporting ({codes})") from None
        if quiet >= STALL_S:
            quiet = 0.0
            print(f"no file finished for {STALL_S:.0f} s; lock waits:", file=sys.stderr)
            print(_lock_waits(url), file=sys.stderr, flush=True)


def _lock_waits(url: str) -> str:
    """Each session waiting for a lock in this database, with the sessions blocking it."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    query = sa.text(
        "SELECT w.pid, w.state, left(w.query, 100) AS query, b.pid AS holder, "
        "       b.state AS holder_state, b.application_name AS holder_name, "
        "       round(extract(epoch FROM now() - b.xact_start)) AS holder_xact_s, "
        "       left(b.query, 100) AS holder_query "
        "FROM pg_stat_activity w "
        "CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS h(pid) "
        "JOIN pg_stat_activity b ON b.pid = h.pid "
        "WHERE w.datname = current_database()"
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    return "\n".join(str(r._asdict()) for r in rows) or "(none)"


_CLASSES = {0x6576_7267: "region", 0x6576_7477: "title", 0x6576_636F: "component"}


def _sample_waits(url: str, waits: dict[str, int], stop: threading.Event) -> None:
    """Every 20 ms: which locks a session of this database waits for (by kind)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    query = sa.text(
        "SELECT l.locktype, l.classid, l.objsubid, l.mode FROM pg_locks l "
        "JOIN pg_database d ON d.oid = l.database "
        "WHERE NOT l.granted AND d.datname = current_database()"
    )
    with engine.connect() as conn:
        while not stop.wait(0.02):
            for r in conn.execute(query):
                if r.locktype == "advisory":
                    kind = _CLASSES.get(r.classid, "other") if r.objsubid == 2 else "bigint key"
                else:
                    kind = r.locktype
                name = f"{kind} {r.mode}"
                waits[name] = waits.get(name, 0) + 1
            conn.rollback()


def summarize(
    records: list[dict[str, Any]], wall: float, replicas: int, load: float
) -> dict[str, Any]:
    done = [r for r in records if r["outcome"] == "processed"]
    file_s = sum(r["ended"] - r["started"] for r in done)
    held = [(r["granted"], r["ended"]) for r in done if r["granted"] is not None]
    hold_s = sum(b - a for a, b in held)
    events = sum(r["events"] for r in done)
    n = max(1, len(done))
    return {
        "replicas": replicas,
        "files": len(done),
        "outcomes": sorted({r["outcome"] for r in records}),
        "events": events,
        "wall_s": round(wall, 1),
        "events_per_s": round(events / wall, 1),
        "ms_per_file": round(file_s / n * 1000, 1),
        "hold_ms_per_file": round(hold_s / n * 1000, 1),
        "hold_share": round(hold_s / file_s, 3) if file_s else 0.0,
        "wait_ms_per_file": round(sum(r["wait_ms"] for r in done) / n, 1),
        "regions_per_file": round(sum(r["regions"] for r in done) / n, 1),
        "regions_max": max((r["regions"] for r in done), default=0),
        "titles_per_file": round(sum(r["titles"] for r in done) / n, 1),
        "components_per_file": round(sum(r["components"] for r in done) / n, 1),
        "components_max": max((r["components"] for r in done), default=0),
        "restarts": sum(r["restarts"] for r in done),
        # sum of hold times / their union: 1.0 = never two files holding locks at once
        "hold_concurrency": round(hold_s / _union(held), 2) if held else 0.0,
        "load_average_at_start": round(load, 2),
    }


def _union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def clusters(url: str) -> set[frozenset[str]]:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT array_agg(id) FROM source_events WHERE canonical_id IS NOT NULL "
                "GROUP BY canonical_id"
            )
        )
        return {frozenset(r[0]) for r in rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regions", type=int, default=4, help="regions (or periods) in the corpus")
    ap.add_argument(
        "--periods",
        action="store_true",
        help="periods of one region years apart (a backfill in parts), not regions side by side",
    )
    ap.add_argument("--events", type=int, default=8000)
    ap.add_argument("--replicas", default="1,2")
    ap.add_argument(
        "--whole-lock",
        action="store_true",
        help="also run each replica count with every file taking the matching lock exclusive",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workdir", type=Path)
    args = ap.parse_args(argv)
    import sqlalchemy as sa

    from eventdedup.db.embedded import EmbeddedPostgres
    from eventdedup.db.engine import create_engine
    from eventdedup.db.migrate import upgrade_head

    root = Path(tempfile.mkdtemp(prefix="bench-replicas-", dir=args.workdir))
    server = EmbeddedPostgres(root / "pgdata", database="postgres")
    results: list[dict[str, Any]] = []
    try:
        url = server.start()
        files = interleaved(args.regions, args.events, seed=args.seed, periods=args.periods)
        parts = "periods" if args.periods else "regions"
        print(f"{len(files)} files of {args.regions} {parts}", file=sys.stderr, flush=True)
        overrides = {} if args.periods else regions_overrides(args.regions)
        baseline: set[frozenset[str]] | None = None
        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        counts = [int(x) for x in args.replicas.split(",")]
        modes = [False, True] if args.whole_lock else [False]
        for n, whole in itertools.product(counts, modes):
            name = f"bench_{n}_{'whole' if whole else 'regions'}"
            db_url = url.replace("/postgres?", f"/{name}?")
            with admin.connect() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name}"))
            engine = create_engine(db_url)
            upgrade_head(engine)
            engine.dispose()
            work = root / name
            inbox = work / "inbox"
            inbox.mkdir(parents=True)
            paths = []
            for f in files:
                (inbox / f.name).write_bytes(f.to_bytes())
                paths.append(inbox / f.name)
            result = run(db_url, paths, n, overrides, work, whole) | {"whole_lock": whole}
            got = clusters(db_url)
            if baseline is None:
                baseline = got
            result["clusters"] = len(got)
            result["clusters_equal_first_run"] = got == baseline
            results.append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
        admin.dispose()
    finally:
        with contextlib.suppress(Exception):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(report(results))
    if args.json:
        args.json.write_text(
            json.dumps({"parts": args.regions, "periods": args.periods, "runs": results}, indent=1)
        )
    return 0


def report(results: list[dict[str, Any]]) -> str:
    cols = [
        ("replicas", "replicas"),
        ("locks", "whole_lock"),
        ("events/s", "events_per_s"),
        ("ms/file", "ms_per_file"),
        ("holding ms/file", "hold_ms_per_file"),
        ("holding share", "hold_share"),
        ("waiting ms/file", "wait_ms_per_file"),
        ("regions/file (max)", "regions_per_file"),
        ("title keys/file", "titles_per_file"),
        ("components/file (max)", "components_per_file"),
        ("restarts", "restarts"),
        ("hold concurrency", "hold_concurrency"),
        ("CPU ms/event replicas + PostgreSQL", "cpu_ms_per_event_replicas"),
        ("clusters equal", "clusters_equal_first_run"),
    ]
    lines = ["| " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in results:
        cells = []
        for _, k in cols:
            v = r[k]
            if k == "whole_lock":
                v = "whole" if v else "regions"
            elif k == "regions_per_file":
                v = f"{v} ({r['regions_max']})"
            elif k == "cpu_ms_per_event_replicas":
                v = f"{v} + {r['cpu_ms_per_event_postgres']}"
            elif k == "components_per_file":
                v = f"{v} ({r['components_max']})"
            cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
