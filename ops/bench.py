"""Benchmark at scale: backfill, steady-state latency and the matching core.

    uv run python ops/bench.py [--sizes 10000,100000] [--steady 0,10000,100000]
                               [--files 20] [--burst 10] [--core-events 10000]
                               [--seed 1] [--json PATH] [--profile DIR]

(``BENCH_FILE_EVENTS`` in the environment changes the file size from 200 events.)

Data comes from ``ops/synthetic.py`` (deterministic by ``--seed``; duplicates
across sources with realistic variation, hard negatives, dates spread so that
blocks stay realistic at any size).  Every size runs against its own, new
embedded PostgreSQL in a temporary directory, which is removed afterwards.

* **backfill N** — ingest N events file by file (200 events each) through the
  real ``FileProcessor`` with the ``DbDeduplicator`` (the daemon's code path),
  in a child process so that its peak RSS is its own.  Reports events/s (over
  the time spent in ``FileProcessor.process``), total and wall time, peak RSS,
  RSS at each tenth of the files (flat = no growth per file), PostgreSQL's
  database size, the mean time of each step per file, the per-file time of
  the first and the last tenth of files (flat = cost independent of the store
  size), candidate pairs per event, blocking recall and pairwise quality of
  the stored clusters against the generated truth.
* **steady S** — with S events stored (the database of ``backfill S``; 0 =
  empty), start the daemon (``python -m eventdedup run``, a subprocess), drop
  ``--files`` further 200-event files one at a time (temp name, then an atomic
  rename, as a producer should) and measure from the rename to the file's
  ``file.processed`` message on a websocket client: median, p95, max, plus
  the per-step ``timings_ms`` the message carries.  Then ``--burst`` files are
  dropped at once (a backfill through the daemon) while ``/health`` is polled
  every 20 ms: health latency median / p99 / max and the burst's events/s.
* **core** — the pure matching core on the first ``--core-events`` events:
  events/s of preparation, candidate pairs per event, scored pairs per second,
  blocking recall, and the batch clustering's pairwise quality.

The result is printed as tables; ``--json PATH`` also writes it as JSON, with
the machine (cores, memory, Python, PostgreSQL) in the header.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import itertools
import json
import os
import platform
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "ops"))

from synthetic import GeneratedFile, generate, take  # noqa: E402

FILE_EVENTS = int(os.environ.get("BENCH_FILE_EVENTS", "200"))


# --- helpers ------------------------------------------------------------------------------------


def batching() -> bool:
    """Whether the code under test has the batch path (``--batch-files`` applies)."""
    from eventdedup.config import env_var_names

    return "EVENT_DEDUP_BATCH_FILES" in env_var_names()


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """Resident (``VmRSS``) or peak resident (``VmHWM``) memory of a process in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def proc_stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (``state`` is [0])."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int | str = "self") -> float:
    """User + system CPU time of a process so far."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postmaster_pid(engine: Any) -> int:
    """The PostgreSQL server's main process (the parent of this connection's backend)."""
    import sqlalchemy as sa

    with engine.connect() as conn:  # read while the backend lives (it ends with the connection)
        backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        return int(proc_stat(backend)[1])


def server_cpu_seconds(postmaster: int) -> float:
    """CPU of the whole server: its main process, its live children, and (``cutime``,
    ``cstime``) every child that has ended, so a backend replaced during a run still counts."""
    tck = os.sysconf("SC_CLK_TCK")
    total = sum(int(x) for x in proc_stat(postmaster)[11:15]) / tck
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            child = proc_stat(entry.name)
        except OSError:
            continue  # ended meanwhile: its time is in the postmaster's cutime
        if int(child[1]) == postmaster:
            total += (int(child[11]) + int(child[12])) / tck
    return total


def machine() -> dict[str, Any]:
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": os.cpu_count(),
        "memory_mb": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "load_average": os.getloadavg(),
        "at": dt.datetime.now(dt.UTC).isoformat(),
    }


def write_file(inbox: Path, f: GeneratedFile) -> Path:
    """Like a careful producer: a dot-temp name, then an atomic rename."""
    tmp = inbox / f".{f.name}.tmp"
    tmp.write_bytes(f.to_bytes())
    target = inbox / f.name
    os.replace(tmp, target)
    return target


@contextlib.contextmanager
def embedded_postgres(root: Path) -> Iterator[str]:
    from eventdedup.config import Settings
    from eventdedup.db.embedded import EmbeddedPostgres

    # as the daemon starts it
    server = EmbeddedPostgres(root / "pgdata", shared_buffers=Settings().embedded_shared_buffers)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


# --- backfill (child process) -------------------------------------------------------------------


def backfill(
    url: str,
    events: int,
    seed: int,
    work: Path,
    next_files: int,
    profile: Path | None,
    parse_workers: int = 1,
    batch_files: int = 1,
) -> dict[str, Any]:
    """Ingest ``events`` through the processor actor; write the following files to ``work/next``.

    The daemon's own code path: the ``processor`` actor (parse stage in
    ``parse_workers`` processes, commit stage in a worker thread) fed through
    its queue, as the watcher feeds it.  The files are written before the
    clock starts, so that the time, CPU and memory measured are the
    processor's own; per-file figures go to a file until the end, for the same
    reason.
    """
    import functools

    import sqlalchemy as sa
    import trio

    from eventdedup.actors.processor import processor as processor_actor
    from eventdedup.daemon import load_matching
    from eventdedup.db.dedup import DbDeduplicator
    from eventdedup.db.engine import Database, create_engine
    from eventdedup.db.migrate import upgrade_head
    from eventdedup.pipeline import FileOutcome, FileProcessor, ParsedFile

    engine = create_engine(url)
    upgrade_head(engine)
    from eventdedup.config import load_settings

    cfg = load_matching(load_settings(environ={}))
    inbox, archive, dead = work / "inbox", work / "archive", work / "dead"
    for d in (inbox, archive, dead):
        d.mkdir(parents=True, exist_ok=True)
    prof = cProfile.Profile() if profile else None

    class Profiled(FileProcessor):
        """The commit stage under cProfile (it runs in a worker thread)."""

        def commit(self, parsed: ParsedFile) -> FileOutcome:
            assert prof is not None
            prof.enable()
            try:
                return super().commit(parsed)
            finally:
                prof.disable()

    processor = (Profiled if prof else FileProcessor)(
        engine=engine, archive_dir=archive, dead_letter_dir=dead, deduplicator=DbDeduplicator(cfg)
    )
    stream = generate(seed, file_events=FILE_EVENTS)
    expected_files = -(-events // FILE_EVENTS)
    steps: dict[str, float] = defaultdict(float)
    per_file_path = work / "per_file.jsonl"
    per_file_out = per_file_path.open("w")
    durations: list[float] = []
    rss: list[tuple[int, float]] = []
    outcomes: dict[str, int] = defaultdict(int)
    stored = 0
    truth_path = work / "truth.tsv"
    generating = time.perf_counter()
    paths: list[Path] = []
    f: GeneratedFile | TextIO  # a generated file, then the per-file figures' file
    with truth_path.open("w") as truth:
        for f in take(stream, events):
            for i, k, _g in f.truth:
                truth.write(f"{i}\t{k}\n")
            paths.append(write_file(inbox, f))
    generation_s = time.perf_counter() - generating
    print(
        f"  backfill {events}: {len(paths)} files written in {generation_s:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    from eventdedup.interpreter import prepare_interpreter

    prepare_interpreter()  # as `eventdedup run` does before its loop starts
    postmaster = postmaster_pid(engine)
    cpu0 = cpu_seconds()
    pg_cpu0 = server_cpu_seconds(postmaster)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    began = [0.0]

    def done(outcome: FileOutcome) -> None:
        nonlocal stored
        n = len(durations) + 1
        durations.append(outcome.duration_ms)
        outcomes[outcome.outcome] += 1
        stored += outcome.events_accepted
        for k, v in outcome.timings.items():
            steps[k] += v
        per_file_out.write(json.dumps({k: round(v, 1) for k, v in outcome.timings.items()}) + "\n")
        if n % max(1, expected_files // 10) == 0 or n == expected_files:
            rss.append((n, round(rss_mb(), 1)))
            took = time.perf_counter() - began[0]
            print(
                f"  backfill {events}: {n}/{expected_files} files, {stored} events, "
                f"{stored / took:.0f} events/s, RSS {rss[-1][1]:.0f} MB",
                file=sys.stderr,
                flush=True,
            )

    async def feed_processor() -> None:
        db = Database(engine)
        # room for a backlog to wait (the daemon's queue holds 1,000), so batches can form
        send, receive = trio.open_memory_channel[Path](1 if batch_files <= 1 else 1000)
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(
                    processor_actor,
                    receive,
                    db,
                    processor,
                    on_done=done,
                    parse_workers=parse_workers,
                    # only where there is batching, so that the benchmark runs on older commits
                    **({"batch_files": batch_files} if batching() else {}),  # type: ignore[arg-type]
                )
            )
            async with send:
                began[0] = time.perf_counter()
                for path in paths:
                    await send.send(path)

    trio.run(feed_processor)
    busy = time.perf_counter() - began[0]
    wall = time.perf_counter() - wall
    cpu = cpu_seconds() - cpu0
    pg_cpu = server_cpu_seconds(postmaster) - pg_cpu0
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the parse-stage worker process (a child, ended and reaped with the actor)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_rss = children.ru_maxrss / 1024
    worker_cpu = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    if prof and profile:
        prof.dump_stats(str(profile / f"backfill-{events}.pstats"))
    per_file_out.close()
    with per_file_path.open() as f:  # only now, after the memory figures
        per_file = [json.loads(line) for line in f]

    nxt = work / "next"
    nxt.mkdir(exist_ok=True)
    names = []
    for f in itertools.islice(stream, next_files):
        (nxt / f.name).write_bytes(f.to_bytes())
        names.append(f.name)
    (work / "next.json").write_text(json.dumps(names))

    with engine.begin() as conn:
        q = lambda s: conn.execute(sa.text(s)).scalar_one()  # noqa: E731
        db = {
            "size_mb": round(q("SELECT pg_database_size(current_database())") / 2**20, 1),
            "source_events": q("SELECT count(*) FROM source_events"),
            "decisions": q("SELECT count(*) FROM match_decisions"),
            "canonicals": q("SELECT count(*) FROM canonical_events"),
            "postgres": q("SHOW server_version"),
        }
        quality = truth_quality(conn, truth_path)
    engine.dispose()
    tenth = max(1, len(durations) // 10)
    files = len(durations)
    return {
        "events": stored,
        "files": files,
        "outcomes": dict(outcomes),
        "seconds_processing": round(busy, 2),
        "seconds_wall": round(wall, 2),
        "seconds_generating_files": round(generation_s, 1),
        # CPU seconds of this process (incl. generating the files), of the parse-stage
        # worker process (with its start-up, ~1.5 s) and of the whole PostgreSQL server
        "cpu_seconds": {
            "python": round(cpu, 1),
            "worker": round(worker_cpu, 1),
            "postgres": round(pg_cpu, 1),
        },
        # from the first file handed to the processor to the last one committed
        "events_per_second": round(stored / busy, 1),
        "parse_workers": parse_workers,
        "batch_files": batch_files,
        "peak_rss_mb": round(peak_rss, 1),
        "worker_peak_rss_mb": round(worker_rss, 1) if parse_workers else 0.0,
        "rss_mb_by_files": rss,
        "db": db,
        "step_ms_per_file": {
            k: round(v / files, 1) for k, v in sorted(steps.items(), key=lambda kv: -kv[1])
        },
        "file_ms": {
            "p50": round(percentile(durations, 50), 1),
            "p95": round(percentile(durations, 95), 1),
            "first_tenth_mean": round(statistics.fmean(durations[:tenth]), 1),
            "last_tenth_mean": round(statistics.fmean(durations[-tenth:]), 1),
        },
        "candidate_pairs_per_event": round(db["decisions"] / max(1, db["source_events"]), 2),
        **quality,
        "per_file_ms": per_file,
    }


def truth_quality(conn: Any, truth_path: Path) -> dict[str, Any]:
    """Blocking recall and pairwise quality of the stored clusters, computed in SQL."""
    import sqlalchemy as sa

    conn.execute(sa.text("CREATE TEMP TABLE truth (id text PRIMARY KEY, key text NOT NULL)"))
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cur,
        cur.copy("COPY truth (id, key) FROM STDIN") as copy,
        truth_path.open("rb") as f,
    ):
        while chunk := f.read(1 << 20):
            copy.write(chunk)
    conn.execute(sa.text("CREATE INDEX ON truth (key, id)"))
    conn.execute(sa.text("ANALYZE truth"))
    row = conn.execute(
        sa.text("""
        WITH pairs AS (
            SELECT a.id AS a_id, b.id AS b_id FROM truth a
            JOIN truth b ON a.key = b.key AND a.id < b.id)
        SELECT count(*) AS true_pairs,
               count(d.a_id) AS blocked,
               count(*) FILTER (WHERE ea.canonical_id = eb.canonical_id) AS correct
        FROM pairs p
        LEFT JOIN match_decisions d ON d.a_id = p.a_id AND d.b_id = p.b_id
        JOIN source_events ea ON ea.id = p.a_id
        JOIN source_events eb ON eb.id = p.b_id""")
    ).one()
    predicted = conn.execute(
        sa.text(
            "SELECT coalesce(sum(n * (n - 1) / 2), 0) "
            "FROM (SELECT count(*) AS n FROM source_events GROUP BY canonical_id) c"
        )
    ).scalar_one()
    predicted = int(predicted)
    p = row.correct / predicted if predicted else 0.0
    r = row.correct / row.true_pairs if row.true_pairs else 0.0
    return {
        "blocking_recall": round(row.blocked / max(1, row.true_pairs), 4),
        "true_pairs": row.true_pairs,
        "pairwise": {
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        },
    }


def run_backfill_child(
    url: str,
    events: int,
    seed: int,
    work: Path,
    next_files: int,
    profile: Path | None,
    parse_workers: int,
    batch_files: int = 1,
) -> dict[str, Any]:
    out = work / "backfill.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_backfill",
        url,
        str(events),
        str(seed),
        str(work),
        str(next_files),
        str(profile or ""),
        str(parse_workers),
        str(batch_files),
    ]
    subprocess.run(cmd, check=True)
    return json.loads(out.read_text())


# --- eventdedup ingest (child process) ----------------------------------------------------------


def ingest(
    url: str, events: int, seed: int, work: Path, parse_workers: int, batch_files: int
) -> dict[str, Any]:
    """``eventdedup ingest`` of ``events`` generated listings (a folder of 200-event files).

    The command's own code (``runner.ingest_paths``: staging copies, the processor
    actor with its parse worker, batches of ``batch_files``) in this process, so
    that its CPU, its parse worker's (a child) and the server's are measured apart.
    """
    import trio

    from eventdedup.config import load_settings
    from eventdedup.runner import ingest_paths

    folder = work / "backlog"
    folder.mkdir()
    for f in take(generate(seed, file_events=FILE_EVENTS), events):
        write_file(folder, f)
    settings = load_settings(
        environ={
            "EVENT_DEDUP_DATABASE_URL": url,
            "EVENT_DEDUP_EVENT_DATA_DIR": str(work / "inbox"),
            "EVENT_DEDUP_ARCHIVE_DIR": str(work / "archive"),
            "EVENT_DEDUP_DEAD_LETTER_DIR": str(work / "dead"),
            "EVENT_DEDUP_DATA_DIR": str(work / "state"),
            "EVENT_DEDUP_PARSE_WORKERS": str(parse_workers),
            **({"EVENT_DEDUP_BATCH_FILES": str(batch_files)} if batching() else {}),
            # scoring ahead in the parse worker, if asked for in the benchmark's environment
            **{k: v for k, v in os.environ.items() if k == "EVENT_DEDUP_SCORE_AHEAD"},
        }
    )
    import sqlalchemy as sa

    from eventdedup.db.engine import create_engine
    from eventdedup.db.migrate import upgrade_head

    engine = create_engine(url)
    upgrade_head(engine)  # outside the measurement, as for the backfill
    if batching():  # the command calls it since the batch path came
        from eventdedup.interpreter import prepare_interpreter

        prepare_interpreter()
    postmaster = postmaster_pid(engine)
    cpu0, pg_cpu0 = cpu_seconds(), server_cpu_seconds(postmaster)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    failed = trio.run(ingest_paths, settings, [folder])
    seconds = time.perf_counter() - began
    cpu, pg_cpu = cpu_seconds() - cpu0, server_cpu_seconds(postmaster) - pg_cpu0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    worker_cpu = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    with engine.begin() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM source_events")).scalar_one()
        truth_path = work / "truth.tsv"
        with truth_path.open("w") as truth:
            for f in take(generate(seed, file_events=FILE_EVENTS), events):
                for i, k, _g in f.truth:
                    truth.write(f"{i}\t{k}\n")
        quality = truth_quality(conn, truth_path)
        # files in batches, and of them those whose batch used the candidates it found
        # while the batch before was committing (``FileProcessor.open_batch``)
        files, batched, ahead, mean_batch = conn.execute(
            sa.text(
                "SELECT count(*), count(*) FILTER (WHERE data ? 'batch'), "
                "count(*) FILTER (WHERE data->'batch'->>'looked_ahead' = 'true'), "
                "coalesce(avg((data->'batch'->>'files')::int), 1) "
                "FROM outbox WHERE type = 'file.processed'"
            )
        ).one()
    engine.dispose()
    return {
        "events": stored,
        "failed_files": failed,
        "batch_files": batch_files,
        "files": {
            "processed": files,
            "in_batches": batched,
            "looked_ahead": ahead,
            "mean_batch": round(float(mean_batch), 1),
        },
        "seconds": round(seconds, 2),
        "events_per_second": round(stored / seconds, 1),
        "cpu_seconds": {
            "python": round(cpu, 1),
            "worker": round(worker_cpu, 1),
            "postgres": round(pg_cpu, 1),
        },
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # the largest child that has ended: the parse worker
        "worker_peak_rss_mb": round(children.ru_maxrss / 1024, 1),
        **quality,
    }


def run_ingest_child(
    url: str, events: int, seed: int, work: Path, parse_workers: int, batch_files: int
) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_ingest", url, str(events)]
    cmd += [str(seed), str(work), str(parse_workers), str(batch_files)]
    subprocess.run(cmd, check=True)
    return json.loads((work / "ingest.json").read_text())


# --- steady state (daemon subprocess + websocket client) ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steady(
    url: str | None,
    work: Path,
    files: list[GeneratedFile],
    sequential: int,
    stored: int,
    parse_workers: int = 1,
    batch_files: int = 1,
) -> dict[str, Any]:
    import trio

    port = free_port()
    token = secrets.token_urlsafe(24)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_DEDUP_")}
    env.update(
        {
            "EVENT_DEDUP_EVENT_DATA_DIR": str(work / "d_inbox"),
            "EVENT_DEDUP_DEAD_LETTER_DIR": str(work / "d_dead"),
            "EVENT_DEDUP_ARCHIVE_DIR": str(work / "d_archive"),
            "EVENT_DEDUP_DATA_DIR": str(work / "d_state"),
            "EVENT_DEDUP_HTTP_PORT": str(port),
            "EVENT_DEDUP_ADMIN_TOKEN": token,
            "EVENT_DEDUP_LOG_LEVEL": "WARNING",
            "EVENT_DEDUP_PARSE_WORKERS": str(parse_workers),
            "EVENT_DEDUP_BATCH_FILES": str(batch_files),
        }
    )
    if not batching():  # a commit without the setting
        del env["EVENT_DEDUP_BATCH_FILES"]
    if url:
        env["EVENT_DEDUP_DATABASE_URL"] = url
    log = (work / "daemon.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventdedup", "run"],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        result = trio.run(_steady_client, port, token, work / "d_inbox", files, sequential)
        result["daemon_peak_rss_mb"] = round(rss_mb(proc.pid, "VmHWM"), 1)
        result["stored_before"] = stored
        return result
    except BaseException:
        log.flush()
        tail = (work / "daemon.log").read_text(errors="replace").splitlines()[-40:]
        print("daemon log (last lines):", *tail, sep="\n  ", file=sys.stderr)
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def _steady_client(
    port: int, token: str, inbox: Path, files: list[GeneratedFile], sequential: int
) -> dict[str, Any]:
    import httpx
    import trio
    from trio_websocket import open_websocket_url

    from eventdedup.client import feed_messages

    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers) as http:
        with trio.fail_after(300):
            while True:
                try:
                    if (await http.get(base + "/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await trio.sleep(0.2)
        ws_url = f"ws://127.0.0.1:{port}/ws?types=file.processed"
        async with open_websocket_url(
            ws_url, extra_headers=[(b"Authorization", f"Bearer {token}".encode())]
        ) as ws:
            processed: dict[str, tuple[float, dict[str, Any]]] = {}
            arrived = trio.Event()

            async def reader() -> None:
                nonlocal arrived
                while True:
                    # a frame carries every message the client is behind by (docs/protocol.md)
                    for message in feed_messages(json.loads(await ws.get_message())):
                        if message.get("type") == "file.processed":
                            processed[message["data"]["file"]] = (
                                time.perf_counter(),
                                message["data"],
                            )
                    arrived.set()
                    arrived = trio.Event()

            async def wait_for(names: Sequence[str], seconds: float) -> None:
                with trio.fail_after(seconds):
                    while not all(n in processed for n in names):
                        await arrived.wait()

            health: list[float] = []
            health_at: list[float] = []
            polling = False

            async def poll_health() -> None:
                while True:
                    if polling:
                        t0 = time.perf_counter()
                        await http.get(base + "/health")
                        health.append((time.perf_counter() - t0) * 1000)
                        health_at.append(t0)
                    await trio.sleep(0.02)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(reader)
                nursery.start_soon(poll_health)
                await trio.sleep(0.5)
                latencies: list[float] = []
                steps: dict[str, list[float]] = defaultdict(list)
                for f in files[:sequential]:
                    write_file(inbox, f)
                    t0 = time.perf_counter()
                    await wait_for([f.name], 120)
                    at, data = processed[f.name]
                    latencies.append((at - t0) * 1000)
                    for k, v in (data.get("timings_ms") or {}).items():
                        steps[k].append(v)
                burst = files[sequential:]
                burst_result: dict[str, Any] = {}
                if burst:
                    polling = True
                    await trio.sleep(0.3)
                    t0 = time.perf_counter()
                    for f in burst:
                        write_file(inbox, f)
                    await wait_for([f.name for f in burst], 60 * len(burst))
                    took = max(processed[f.name][0] for f in burst) - t0
                    polling = False
                    burst_result = {
                        "files": len(burst),
                        "events_per_second": round(sum(len(f.events) for f in burst) / took, 1),
                        "health_ms": {
                            "n": len(health),
                            "p50": round(percentile(health, 50), 1),
                            "p99": round(percentile(health, 99), 1),
                            "max": round(max(health, default=float("nan")), 1),
                        },
                        # (seconds since the burst began, ms): where the slow answers fall
                        "health_samples": [
                            (round(at - t0, 3), round(ms, 1))
                            for at, ms in zip(health_at, health, strict=True)
                        ],
                        "processed_at": sorted(round(processed[f.name][0] - t0, 3) for f in burst),
                    }
                nursery.cancel_scope.cancel()
    return {
        "files": len(latencies),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "max": round(max(latencies, default=float("nan")), 1),
        },
        "step_ms_median": {
            k: round(statistics.median(v), 1)
            for k, v in sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))
        },
        "burst": burst_result,
    }


# --- the pure core ------------------------------------------------------------------------------


def core(events: int, seed: int) -> dict[str, Any]:
    from eventdedup.ingest.loader import load_file
    from eventdedup.matching import (
        candidate_pairs,
        evaluate_clusters,
        load_matching_config,
        prepare_event,
        score_pair,
    )
    from eventdedup.matching.batch import cluster_records
    from eventdedup.model import SourceEvent

    cfg = load_matching_config(None)
    loaded: list[SourceEvent] = []
    truth: dict[str, str] = {}
    t = time.perf_counter()
    for f in take(generate(seed, file_events=FILE_EVENTS), events):
        loaded.extend(load_file(f.to_bytes(), f.name).events)
        truth.update({i: k for i, k, _g in f.truth})
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    records = {e.id: prepare_event(e, cfg) for e in loaded}
    t_prepare = time.perf_counter() - t
    t = time.perf_counter()
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], cfg)
    t_block = time.perf_counter() - t
    t = time.perf_counter()
    scores = [score_pair(records[a], records[b], cfg) for a, b in pairs]
    t_score = time.perf_counter() - t
    t = time.perf_counter()
    result = cluster_records(records, scores, cfg)
    t_cluster = time.perf_counter() - t
    by_key: dict[str, list[str]] = defaultdict(list)
    for i, k in truth.items():
        by_key[k].append(i)
    true_pairs = {p for v in by_key.values() for p in itertools.combinations(sorted(v), 2)}
    quality = evaluate_clusters(result.clusters, truth)
    n = len(records)
    return {
        "events": n,
        "load_validate_events_per_second": round(n / t_load, 1),
        "prepare_events_per_second": round(n / t_prepare, 1),
        "candidate_pairs": len(pairs),
        "candidate_pairs_per_event": round(len(pairs) / n, 2),
        "blocking_seconds": round(t_block, 2),
        "scored_pairs_per_second": round(len(pairs) / t_score, 1),
        "clustering_seconds": round(t_cluster, 2),
        "core_events_per_second": round(n / (t_prepare + t_block + t_score + t_cluster), 1),
        "blocking_recall": round(len(true_pairs & set(pairs)) / max(1, len(true_pairs)), 4),
        "pairwise": {
            "precision": quality["pairwise_precision"],
            "recall": quality["pairwise_recall"],
            "f1": quality["pairwise_f1"],
        },
    }


# --- report -------------------------------------------------------------------------------------


def table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join(
        [line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])]
    )


def report(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [
        f"machine: {m['cores']} cores, {m['memory_mb']} MB, Python {m['python']}, "
        f"commit {m['commit']}, load {m['load_average'][0]:.1f}"
    ]
    if result["backfill"]:
        rows = [
            [
                b["events"],
                b["files"],
                b["events_per_second"],
                b["seconds_processing"],
                f"{b['peak_rss_mb']} + {b.get('worker_peak_rss_mb', 0)}",
                b["db"]["size_mb"],
                b["file_ms"]["first_tenth_mean"],
                b["file_ms"]["last_tenth_mean"],
                b["candidate_pairs_per_event"],
                b["blocking_recall"],
                b["pairwise"]["f1"],
            ]
            for b in result["backfill"]
        ]
        out += [
            "",
            "backfill (the processor actor: parse stage + FileProcessor.commit with "
            "DbDeduplicator, 200-event files)",
            table(
                rows,
                [
                    "events",
                    "files",
                    "events/s",
                    "seconds",
                    "peak RSS MB (+ worker)",
                    "DB MB",
                    "ms/file first 10%",
                    "ms/file last 10%",
                    "pairs/event",
                    "block recall",
                    "F1",
                ],
            ),
        ]
        for b in result["backfill"]:
            out.append(
                f"  {b['events']}: mean ms per file by step: "
                + ", ".join(f"{k} {v}" for k, v in b["step_ms_per_file"].items())
            )
            out.append(
                f"  {b['events']}: RSS MB after n files: "
                + ", ".join(f"{n}:{v:.0f}" for n, v in b["rss_mb_by_files"])
            )
            cpu = b["cpu_seconds"]
            out.append(
                f"  {b['events']}: CPU ms per event: "
                + ", ".join(f"{k} {v * 1000 / max(1, b['events']):.2f}" for k, v in cpu.items())
                + f" (total {sum(cpu.values()) * 1000 / max(1, b['events']):.2f}; "
                f"{b['seconds_processing'] * 1000 / max(1, b['events']):.2f} wall)"
            )
    for g in result.get("ingest", []):
        cpu = g["cpu_seconds"]
        out.append(
            f"\neventdedup ingest {g['events']} events ({g['batch_files']} files per batch): "
            f"{g['events_per_second']} events/s, {g['seconds']} s, {g['failed_files']} failed, "
            f"peak RSS {g['peak_rss_mb']} MB (+ worker {g.get('worker_peak_rss_mb', '?')} MB), "
            f"F1 {g['pairwise']['f1']}; CPU ms per event: "
            + ", ".join(f"{k} {v * 1000 / max(1, g['events']):.2f}" for k, v in cpu.items())
            + f" (total {sum(cpu.values()) * 1000 / max(1, g['events']):.2f})"
        )
        if "files" in g:
            f = g["files"]
            out.append(
                f"  files: {f['processed']}, {f['in_batches']} in batches (mean "
                f"{f['mean_batch']} files), {f['looked_ahead']} in batches opened ahead"
            )
    if result["steady"]:
        rows = []
        for s in result["steady"]:
            h = s["burst"].get("health_ms", {})
            rows.append(
                [
                    s["stored_before"],
                    s["files"],
                    s["latency_ms"]["p50"],
                    s["latency_ms"]["p95"],
                    s["latency_ms"]["max"],
                    s["burst"].get("events_per_second", "-"),
                    h.get("p50", "-"),
                    h.get("p99", "-"),
                    h.get("max", "-"),
                    s["daemon_peak_rss_mb"],
                ]
            )
        out += [
            "",
            "steady state (daemon; 200-event file: rename in inbox -> file.processed on "
            "the websocket)",
            table(
                rows,
                [
                    "stored",
                    "files",
                    "p50 ms",
                    "p95 ms",
                    "max ms",
                    "burst ev/s",
                    "health p50",
                    "health p99",
                    "health max",
                    "daemon RSS MB",
                ],
            ),
        ]
        for s in result["steady"]:
            out.append(
                f"  {s['stored_before']} stored: median ms by step: "
                + ", ".join(f"{k} {v}" for k, v in s["step_ms_median"].items())
            )
    if result.get("core"):
        c = result["core"]
        out += [
            "",
            f"core (pure matching, {c['events']} events in one batch)",
            table(
                [
                    [
                        c["load_validate_events_per_second"],
                        c["prepare_events_per_second"],
                        c["candidate_pairs_per_event"],
                        c["scored_pairs_per_second"],
                        c["core_events_per_second"],
                        c["blocking_recall"],
                        c["pairwise"]["f1"],
                    ]
                ],
                [
                    "load+validate ev/s",
                    "prepare ev/s",
                    "pairs/event",
                    "scored pairs/s",
                    "core ev/s",
                    "block recall",
                    "F1",
                ],
            ),
        ]
    return "\n".join(out)


# --- main ---------------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    work: str | Path  # an argument in the backfill child, a temporary directory below
    if argv and argv[0] == "_backfill":  # the child process of one backfill
        url, events, seed, work, next_files, profile, workers, batch = argv[1:9]
        res = backfill(
            url,
            int(events),
            int(seed),
            Path(work),
            int(next_files),
            Path(profile) if profile else None,
            int(workers),
            int(batch),
        )
        (Path(work) / "backfill.json").write_text(json.dumps(res))
        return 0
    if argv and argv[0] == "_ingest":  # the child process of one `eventdedup ingest`
        url, events, seed, work, workers, batch = argv[1:7]
        res = ingest(url, int(events), int(seed), Path(work), int(workers), int(batch))
        (Path(work) / "ingest.json").write_text(json.dumps(res))
        return 0

    # stopped with SIGTERM: unwind, so the embedded servers and temp directories go too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes", type=_ints, default=[10_000, 100_000], help="backfill sizes (comma-separated)"
    )
    ap.add_argument(
        "--steady",
        type=_ints,
        default=[0, 10_000, 100_000],
        help="stored sizes for the steady-state test; each must be 0 or a backfill size",
    )
    ap.add_argument("--files", type=int, default=20, help="files dropped one at a time")
    ap.add_argument("--burst", type=int, default=10, help="files dropped at once")
    ap.add_argument("--core-events", type=int, default=10_000, help="0 = skip")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the result here")
    ap.add_argument("--profile", type=Path, help="write cProfile stats of each backfill here")
    ap.add_argument("--workdir", type=Path, help="parent of the temporary directories")
    ap.add_argument(
        "--parse-workers",
        type=int,
        default=1,
        help="EVENT_DEDUP_PARSE_WORKERS of the backfill and the daemon",
    )
    ap.add_argument(
        "--batch-files",
        type=int,
        default=1,
        help="EVENT_DEDUP_BATCH_FILES of the backfill, the daemon and ingest (1 = file by file)",
    )
    ap.add_argument(
        "--ingest", type=_ints, default=[], help="sizes for `eventdedup ingest` (comma-separated)"
    )
    args = ap.parse_args(argv)
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        args.profile = args.profile.resolve()
    bad = [s for s in args.steady if s and s not in args.sizes]
    if bad:
        ap.error(f"--steady {bad}: not a backfill size")

    result: dict[str, Any] = {
        "machine": machine(),
        "backfill": [],
        "ingest": [],
        "steady": [],
        "core": None,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    per_file_steady = args.files + args.burst

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))

    if 0 in args.steady:
        with tempfile.TemporaryDirectory(prefix="bench-", dir=args.workdir) as tmp:
            work = Path(tmp)
            files = list(
                itertools.islice(
                    generate(args.seed + 1000, file_events=FILE_EVENTS), per_file_steady
                )
            )
            with embedded_postgres(work) as url:
                print("steady state, empty store", file=sys.stderr, flush=True)
                result["steady"].append(
                    steady(url, work, files, args.files, 0, args.parse_workers, args.batch_files)
                )
        save()
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-", dir=args.workdir) as tmp:
            work = Path(tmp)
            with embedded_postgres(work) as url:
                print(f"backfill {size}", file=sys.stderr, flush=True)
                b = run_backfill_child(
                    url,
                    size,
                    args.seed,
                    work,
                    per_file_steady,
                    args.profile,
                    args.parse_workers,
                    args.batch_files,
                )
                result["backfill"].append(b)
                save()
                if size in args.steady:
                    names = json.loads((work / "next.json").read_text())
                    files = [
                        GeneratedFile(n, json.loads((work / "next" / n).read_bytes()), [])
                        for n in names
                    ]
                    print(f"steady state, {size} stored", file=sys.stderr, flush=True)
                    result["steady"].append(
                        steady(
                            url,
                            work,
                            files,
                            args.files,
                            b["events"],
                            args.parse_workers,
                            args.batch_files,
                        )
                    )
                    save()
    for size in args.ingest:
        with tempfile.TemporaryDirectory(prefix="bench-", dir=args.workdir) as tmp:
            work = Path(tmp)
            with embedded_postgres(work) as url:
                print(f"eventdedup ingest {size}", file=sys.stderr, flush=True)
                result["ingest"].append(
                    run_ingest_child(
                        url, size, args.seed, work, args.parse_workers, args.batch_files
                    )
                )
                save()
    if args.core_events:
        print(f"core, {args.core_events} events", file=sys.stderr, flush=True)
        result["core"] = core(args.core_events, args.seed)
        save()
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
