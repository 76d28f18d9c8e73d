"""Per-file latency with the resolver busy vs idle (issue #16: within 10 %).

    uv run python ops/bench_resolver.py [CORPUS] [--rounds 2] [--delay 0.05] [--gap 0]

Each round ingests the corpus (default: the dev sample) file by file through
the real ``FileProcessor`` into a new database on an embedded PostgreSQL,
twice: once with no resolver, once while a resolver claims and answers every
open item as soon as it appears — an ``llm`` resolver against a local stand-in
endpoint that answers "same, confidence 0.95" after ``--delay`` seconds, so
its answers are applied (re-clustering under the matching lock, as an
operator's would be).  The resolver applies an answer only while no file is
being committed (``actors.activity.FileActivity``, as in the daemon); with
``--gap`` the files come with a pause between them, as from a watched inbox.
Rounds alternate which run goes first.  Prints per-file milliseconds (median,
mean, max) for both and how many decisions the resolver applied meanwhile.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import trio

from eventdedup.actors.activity import FileActivity
from eventdedup.actors.resolver import ResolverChain, run_pass
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.llm import LlmClient
from eventdedup.admin.metrics import Metrics
from eventdedup.db.dedup import DbDeduplicator
from eventdedup.db.embedded import EmbeddedPostgres
from eventdedup.db.engine import Database
from eventdedup.db.migrate import upgrade_head
from eventdedup.matching import load_matching_config
from eventdedup.pipeline import FileProcessor
from eventdedup.testing import SAMPLE_CORPUS, corpus_files


def _serve_stand_in(delay: float, confidence: float, port: Any) -> None:
    """The stand-in endpoint, in a process of its own (as a real endpoint would be)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(delay)
            answer = {"same": True, "confidence": confidence, "reason": "stand-in"}
            body = json.dumps({"choices": [{"message": {"content": json.dumps(answer)}}]})
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port.put(server.server_address[1])
    server.serve_forever()


@contextmanager
def stand_in_llm(delay: float, confidence: float = 0.95) -> Iterator[str]:
    # a separate process: its CPU must not count against the daemon's (one GIL)
    port: multiprocessing.Queue[int] = multiprocessing.Queue()
    proc = multiprocessing.Process(
        target=_serve_stand_in, args=(delay, confidence, port), daemon=True
    )
    proc.start()
    try:
        yield f"http://127.0.0.1:{port.get(timeout=30)}/v1/chat/completions"
    finally:
        proc.terminate()
        proc.join()


async def ingest(
    url: str, files: list[Path], work: Path, llm_url: str | None, gap: float
) -> tuple[list[float], int]:
    cfg = load_matching_config(None)
    db = Database.from_url(url)
    await db.run(upgrade_head, db.engine)
    processor = FileProcessor(
        engine=db.engine,
        archive_dir=work / "archive",
        dead_letter_dir=work / "dead",
        deduplicator=DbDeduplicator(cfg),
    )
    staging = work / "staging"
    staging.mkdir(parents=True)
    times: list[float] = []
    applied = 0
    done = trio.Event()
    activity = FileActivity()

    async def resolve() -> None:
        nonlocal applied
        assert llm_url is not None
        chain = ResolverChain(
            ("llm",), confidence=0.9, llm=LlmClient(llm_url, "stand-in", 10.0), budget=10**6
        )
        source = ConfigSource(cfg, origin="bench")
        while not done.is_set():
            applied += await run_pass(db, source, chain, Metrics(), "bench", activity=activity)
            await trio.sleep(0.02)

    async with trio.open_nursery() as nursery:
        if llm_url is not None:
            nursery.start_soon(resolve)
        for path in files:
            copy = staging / path.name
            shutil.copyfile(path, copy)
            started = time.perf_counter()
            with activity.committing():  # as the processor actor marks it
                outcome = await trio.to_thread.run_sync(processor.process, copy)
            times.append((time.perf_counter() - started) * 1000)
            await trio.sleep(gap)
            assert outcome.outcome == "processed", outcome
        during = applied  # what it applied while files came in (not the catching up after)
        done.set()
    with db.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    db.dispose()
    return times, during


def summary(times: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(times), 1),
        "mean_ms": round(statistics.fmean(times), 1),
        "max_ms": round(max(times), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", nargs="?", type=Path, default=SAMPLE_CORPUS)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.05)
    ap.add_argument(
        "--gap",
        type=float,
        default=0.0,
        help="seconds between one file's end and the next file (0: back to back)",
    )
    ap.add_argument(
        "--unsure",
        action="store_true",
        help="the stand-in answers with confidence 0.6: the resolver asks but applies nothing",
    )
    args = ap.parse_args(argv)
    files = corpus_files(args.corpus)
    idle: list[float] = []
    busy: list[float] = []
    decisions = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        stand_in_llm(args.delay, 0.6 if args.unsure else 0.95) as llm_url,
    ):
        server = EmbeddedPostgres(Path(tmp) / "pgdata")
        admin_url = server.start()
        try:
            engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
            for n in range(args.rounds):
                # alternate which goes first, so a drift in the machine's load cancels out
                for label in ("idle", "busy") if n % 2 == 0 else ("busy", "idle"):
                    name = f"bench_{label}_{n}"
                    with engine.connect() as conn:
                        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                    url = sa.make_url(admin_url).set(database=name).render_as_string(False)
                    work = Path(tmp) / name
                    times, applied = trio.run(
                        ingest, url, files, work, llm_url if label == "busy" else None, args.gap
                    )
                    (busy if label == "busy" else idle).extend(times)
                    decisions += applied
            engine.dispose()
        finally:
            server.stop()
    result = {
        "files": len(files) * args.rounds,
        "idle": summary(idle),
        "busy": summary(busy),
        "resolver_decisions_applied_while_files_came_in": decisions,
        "busy_vs_idle_median": round(statistics.median(busy) / statistics.median(idle), 3),
        "busy_vs_idle_mean": round(statistics.fmean(busy) / statistics.fmean(idle), 3),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
