"""The command line as a user runs it: real subprocesses, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio

from tests.daemon.harness import drop_file, free_port, make_settings, running_daemon, scalar

EVENTDEDUP = [sys.executable, "-m", "eventdedup"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_DEDUP_")}
    env.update(
        {
            "EVENT_DEDUP_EVENT_DATA_DIR": str(tmp_path / "inbox"),
            "EVENT_DEDUP_DEAD_LETTER_DIR": str(tmp_path / "dead_letters"),
            "EVENT_DEDUP_ARCHIVE_DIR": str(tmp_path / "archive"),
            "EVENT_DEDUP_DATA_DIR": str(tmp_path / "state"),
        }
    )
    env.update(extra)
    return env


def _start_daemon(tmp_path: Path, within: float = 60, **extra: str) -> subprocess.Popen[str]:
    """``eventdedup run`` on a free port, once its /health answers 200."""
    port = free_port()
    env = _env(tmp_path, EVENT_DEDUP_HTTP_PORT=str(port), **extra)
    proc = subprocess.Popen(
        [*EVENTDEDUP, "run"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"no /health 200 within {within} s: {proc.communicate()[0]}")


def _stop(proc: subprocess.Popen[str], signals: int = 1, within: float = 30) -> str:
    """SIGTERM (``signals`` times, 0.15 s apart: after trio has taken the one before,
    two at once being one to it anyway); the daemon's output once it has exited."""
    try:
        for n in range(signals):
            if n:
                time.sleep(0.15)
            proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=within)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_with_embedded_postgres_serves_health_and_stops_cleanly_on_sigterm(
    tmp_path: Path, corpus_files: list[Path]
) -> None:
    """`eventdedup run` with no database configured: its own PostgreSQL, then exit 0."""
    proc = _start_daemon(tmp_path, within=30, EVENT_DEDUP_SETTLE_SECONDS="0.2")
    try:
        drop_file(corpus_files[0], tmp_path / "inbox")
        deadline = time.monotonic() + 15
        while not (tmp_path / "archive" / corpus_files[0].name).exists():
            assert time.monotonic() < deadline, "file was not processed"
            time.sleep(0.1)
    finally:
        output = _stop(proc)
    assert proc.returncode == 0, output
    assert "stopped cleanly" in output
    assert (tmp_path / "state" / "pgdata" / "PG_VERSION").exists()
    assert not (tmp_path / "state" / "pgdata" / "postmaster.pid").exists(), "postgres left running"


def test_ingest_command_processes_files_and_reports_failures(
    tmp_path: Path, database_url: str, corpus_files: list[Path]
) -> None:
    bad = tmp_path / "bad_01.01.2026.json"
    bad.write_text("[]")
    env = _env(tmp_path, EVENT_DEDUP_DATABASE_URL=database_url)
    result = subprocess.run(
        [*EVENTDEDUP, "ingest", str(corpus_files[0]), str(bad)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "bad_01.01.2026.json" in result.stdout
    engine = sa.create_engine(database_url)
    expected = len(json.loads(corpus_files[0].read_text())["events"])
    assert scalar(engine, "SELECT count(*) FROM source_events") == expected
    engine.dispose()
    assert corpus_files[0].exists() and bad.exists(), "by default the originals stay put"
    assert (tmp_path / "dead_letters" / "bad_01.01.2026.json.error.json").exists()
    assert (tmp_path / "archive" / corpus_files[0].name).exists()

    again = subprocess.run(
        [*EVENTDEDUP, "ingest", "--keep", str(corpus_files[0])],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr

    # --move: a file moves, as if dropped into the inbox
    drops = tmp_path / "drops"
    drops.mkdir()
    moved = drops / corpus_files[1].name
    moved.write_bytes(corpus_files[1].read_bytes())
    bad.rename(drops / bad.name)
    third = subprocess.run(
        [*EVENTDEDUP, "ingest", "--move", str(drops)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
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
            env=_env(tmp_path),
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
    output = _stop(proc, signals=2, within=60)
    assert proc.returncode == 0, output
    assert "forgotten" in output and str(killed.pid) in output
    assert "the same stop request" in output
    assert "stopped cleanly" in output
    assert not postmaster.exists(), "postgres left running"
