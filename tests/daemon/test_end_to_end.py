"""The whole daemon in-process: real PostgreSQL, real folders, real Hypercorn, real websocket."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio

from eventdedup.client import feed_messages
from tests._support.db import scalar
from tests._support.wait import trio_wait_until
from tests.daemon.harness import (
    drop_file,
    feed,
    get_health,
    make_settings,
    next_message,
    running_daemon,
    write_file,
)


def _event_count(path: Path) -> int:
    return len(json.loads(path.read_text())["events"])


@pytest.mark.trio
async def test_dropped_file_becomes_rows_and_feed_message(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    settings = make_settings(tmp_path, database_url)
    first, second = corpus_files[0], corpus_files[1]
    async with running_daemon(settings):
        health = await get_health(settings)
        assert health.status_code == 200, health.text
        assert {a["name"] for a in health.json()["actors"]} == {
            "http",
            "migrator",
            "feed",
            "processor",
            "watcher",
            "resolver",
        }

        async with feed(settings) as ws:
            drop_file(first, settings.event_data_dir)
            accepted = await next_message(ws, "file.accepted", file=first.name)
            processed = await next_message(ws, "file.processed", file=first.name)
        assert processed["seq"] > accepted["seq"]
        assert processed["data"]["events_accepted"] == _event_count(first)
        assert processed["data"]["events_rejected"] == 0
        assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == _event_count(first)
        await trio_wait_until(
            lambda: not (settings.event_data_dir / first.name).exists(), what="the move out"
        )
        assert (settings.archive_dir / first.name).exists()

        # Resume: a client reconnecting with ?after= gets only what came later.
        async with feed(settings) as ws:
            drop_file(second, settings.event_data_dir)
            later = await next_message(ws, "file.processed", file=second.name)
        async with feed(settings, f"after={processed['seq']}") as ws:
            seqs = []
            with trio.fail_after(5):
                while not seqs or seqs[-1] < later["seq"]:
                    seqs.extend(m["seq"] for m in feed_messages(json.loads(await ws.get_message())))
        assert seqs[0] == processed["seq"] + 1
        assert seqs == list(range(processed["seq"] + 1, later["seq"] + 1))


@pytest.mark.trio
async def test_slowly_written_file_is_processed_once_and_complete(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    settings = make_settings(tmp_path, database_url, settle_seconds=1.0)
    source = corpus_files[2]
    data = source.read_bytes()
    async with running_daemon(settings), feed(settings) as ws:
        target = settings.event_data_dir / source.name
        chunks = 12
        step = len(data) // chunks + 1
        with target.open("wb") as out:  # written in place, no rename: 3 s of partial file
            for i in range(chunks):
                out.write(data[i * step : (i + 1) * step])
                out.flush()
                await trio.sleep(0.25)
        processed = await next_message(ws, "file.processed", file=source.name)
        assert processed["data"]["events_accepted"] == _event_count(source)
        await trio.sleep(1.5)  # a rescan cycle: nothing more may happen to it
    assert scalar(migrated_engine, "SELECT count(*) FROM file_ingestions") == 1
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == _event_count(source)
    assert list(settings.dead_letter_dir.iterdir()) == []


@pytest.mark.trio
async def test_duplicate_and_broken_files(
    tmp_path: Path, database_url: str, migrated_engine: sa.Engine, corpus_files: list[Path]
) -> None:
    settings = make_settings(tmp_path, database_url)
    source = corpus_files[3]
    async with running_daemon(settings), feed(settings) as ws:
        drop_file(source, settings.event_data_dir)
        await next_message(ws, "file.processed", file=source.name)
        drop_file(source, settings.event_data_dir, name="again_" + source.name)
        duplicate = await next_message(ws, "file.duplicate", file="again_" + source.name)
        assert duplicate["data"]["duplicate_of"] == source.name

        write_file(settings.event_data_dir, "broken_01.01.2026.json", '{"events": [{"id": ')
        failed = await next_message(ws, "file.failed", file="broken_01.01.2026.json")
        assert "JSON" in failed["data"]["reason"]
        sidecar = settings.dead_letter_dir / "broken_01.01.2026.json.error.json"
        await trio_wait_until(sidecar.exists, what="the sidecar")
        assert (settings.dead_letter_dir / "broken_01.01.2026.json").exists()
        assert json.loads(sidecar.read_text())["reason"] == failed["data"]["reason"]
        assert (await get_health(settings)).status_code == 200

        good = corpus_files[4]
        drop_file(good, settings.event_data_dir)
        await next_message(ws, "file.processed", file=good.name)
    assert (
        scalar(migrated_engine, "SELECT count(*) FROM file_ingestions WHERE state = 'completed'")
        == 2
    )
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == (
        _event_count(source) + _event_count(good)
    )


@pytest.mark.trio
async def test_crashed_processor_is_restarted_and_loses_nothing(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    corpus_files: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eventdedup.pipeline import FileProcessor

    real_commit = FileProcessor.commit
    crashes = []

    def crash_once(self: FileProcessor, parsed):
        if not crashes:
            crashes.append(parsed.path)
            raise RuntimeError("injected fault")
        return real_commit(self, parsed)

    monkeypatch.setattr(FileProcessor, "commit", crash_once)
    settings = make_settings(tmp_path, database_url)
    source = corpus_files[5]
    async with running_daemon(settings), feed(settings) as ws:
        drop_file(source, settings.event_data_dir)
        status = await next_message(ws, "actor.status", name="processor", state="backing-off")
        assert "injected fault" in status["data"]["last_error"]
        await next_message(ws, "file.processed", file=source.name)
        body = (await get_health(settings)).json()
    processor = next(a for a in body["actors"] if a["name"] == "processor")
    assert processor["restarts"] == 1
    assert processor["state"] == "running"
    assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == _event_count(source)
