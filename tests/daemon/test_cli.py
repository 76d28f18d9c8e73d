"""The command line as a user runs it: real subprocesses, real signals."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio

from tests._support.cli import EVENTDEDUP, cli_env, run_cli, start_cli_daemon, stop_cli
from tests._support.db import scalar
from tests._support.net import free_port
from tests._support.wait import wait_until
from tests.daemon.harness import drop_file, make_settings, running_daemon


def _start_daemon(tmp_path: Path, within: float = 60, **extra: str) -> subprocess.Popen[str]:
    """``eventdedup run`` on a free port, once its /health answers 200."""
    port = free_port()
    return start_cli_daemon(
        tmp_path, ["run"], port, within, EVENT_DEDUP_HTTP_PORT=str(port), **extra
    )


def test_run_with_embedded_postgres_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path, corpus_files: list[Path]
) -> None:
    """`eventdedup run` with no database configured: its own PostgreSQL, then exit 0."""
    proc = _start_daemon(tmp_path, within=30, EVENT_DEDUP_SETTLE_SECONDS="0.2")
    try:
        drop_file(corpus_files[0], tmp_path / "inbox")
        archived = tmp_path / "archive" / corpus_files[0].name
        wait_until(archived.exists, 15, "the file to be processed")
    finally:
        output = stop_cli(proc)
    assert proc.returncode == 0, output
    assert "stopped cleanly" in output
    assert (tmp_path / "state" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "state" / "pgdata" / "postmaster.pid").exists(), "postgres left running"


def test_ingest_command_processes_files_and_reports_failures(
    tmp_path: Path, database_url: str, corpus_files: list[Path]
) -> None:
    bad = tmp_path / "bad_01.01.2026.json"
    bad.write_text("[]")
    env = cli_env(tmp_path, EVENT_DEDUP_DATABASE_URL=database_url)
    result = run_cli(["ingest", str(corpus_files[0]), str(bad)], env, tmp_path, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad_01.01.2026.json" in result.stdout
    engine = sa.create_engine(database_url)
    expected = len(json.loads(corpus_files[0].read_text())["events"])
    assert scalar(engine, "SELECT count(*) FROM source_events") == expected
    engine.dispose()
    assert corpus_files[0].exists() and bad.exists(), "by default the originals stay put"
    assert (tmp_path / "dead_letters" / "bad_01.01.2026.json.error.json").exists()
    assert (tmp_path / "archive" / corpus_files[0].name).exists()

    again = run_cli(["ingest", "--keep", str(corpus_files[0])], env, tmp_path, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr

    # --move: a file moves, as if dropped into the inbox
    drops = tmp_path / "drops"
    drops.mkdir()
    moved = drops / corpus_files[1].name
    moved.write_bytes(corpus_files[1].read_bytes())
    bad.rename(drops / bad.name)
    third = run_cli(["ingest", "--move", str(drops)], env, tmp_path, timeout=120)
    assert third.returncode == 1, third.stdout + third.stderr
    assert list(drops.iterdir()) == []
    assert (tmp_path / "archive" / moved.name).read_bytes() == corpus_files[1].read_bytes()
    assert (tmp_path / "dead_letters" / "bad_01.01.2026.1.json").read_text() == "[]"


@pytest.mark.trio
async def test_feed_command_prints_json_lines(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    settings = make_settings(tmp_path, database_url)
    async with running_daemon(settings):
        drop_file(corpus_files[1], settings.event_data_dir)
        proc = await trio.lowlevel.open_process(
            [
                *EVENTDEDUP,
                "feed",
                "--url",
                f"ws://127.0.0.1:{settings.http_port}/ws",
                "--after",
                "0",
            ],
            env=cli_env(tmp_path),
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None
        lines: list[dict] = []
        buffer = b""
        try:
            with trio.fail_after(20):
                while not any(m["type"] == "file.processed" for m in lines):
                    chunk = await proc.stdout.receive_some()
                    buffer += chunk
                    *complete, buffer = buffer.split(b"\n")
                    lines += [json.loads(line) for line in complete if line.strip()]
        finally:
            proc.terminate()
            await proc.wait()
    assert [m["seq"] for m in lines] == list(range(1, len(lines) + 1))
    processed = next(m for m in lines if m["type"] == "file.processed")
    assert processed["data"]["file"] == corpus_files[1].name


def test_a_killed_daemon_does_not_keep_postgres_running_for_ever(tmp_path: Path) -> None:
    """kill -9 leaves the embedded server running (nobody is left to stop it); the
    next daemon attaches to it, and its clean stop stops it again, even when the
    stop request arrives twice at once (``pkill -f`` plus ``uv run`` forwarding)."""
    postmaster = tmp_path / "state" / "pgdata" / "postmaster.pid"
    killed = _start_daemon(tmp_path)
    killed.kill()
    killed.communicate(timeout=30)
    assert postmaster.exists(), "the server outlives a killed daemon"

    proc = _start_daemon(tmp_path)
    output = stop_cli(proc, signals=2, within=60)
    assert proc.returncode == 0, output
    assert "forgotten" in output and str(killed.pid) in output
    assert "the same stop request" in output
    assert "stopped cleanly" in output
    assert not postmaster.exists(), "postgres left running"


def test_an_embedded_server_that_cannot_start_is_one_line_and_the_next_start_recovers(
    tmp_path: Path,
) -> None:
    """A buffer cache the server refuses: `run` exits 1 with the server's reason and the
    setting's name, no traceback and no server left; with the setting fixed, the next `run`
    starts on the same data dir."""
    postmaster = tmp_path / "state" / "pgdata" / "postmaster.pid"
    env = cli_env(tmp_path, EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS="9TB")  # > PostgreSQL's maximum
    result = run_cli(["run"], env, tmp_path, timeout=120)
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("eventdedup run: embedded PostgreSQL did not start: "), last
    assert "shared_buffers is 9TB: EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS" in last
    assert "Traceback" not in result.stderr
    assert not postmaster.exists(), "postgres left running"

    proc = _start_daemon(tmp_path, EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS="64MB")
    output = stop_cli(proc)
    assert proc.returncode == 0, output
    assert not postmaster.exists(), "postgres left running"
