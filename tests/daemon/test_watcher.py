"""The watcher takes a file renamed or moved into the inbox at once; others settle."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import trio

from eventdedup.actors.moves import IN_MOVED_TO, parse_events
from eventdedup.actors.watcher import watcher

SETTLE = 60.0  # far longer than any wait below: only a recognised move is taken


async def _start(nursery: trio.Nursery, inbox: Path) -> trio.MemoryReceiveChannel[Path]:
    send, receive = trio.open_memory_channel[Path](10)
    await nursery.start(
        lambda task_status: watcher(
            inbox,
            send,
            settle_seconds=SETTLE,
            rescan_seconds=SETTLE,
            task_status=task_status,
        )
    )
    return receive


@pytest.mark.trio
@pytest.mark.parametrize(
    "source",
    ["outgoing/a.json", "inbox/a.json.tmp"],
    ids=["moved in from another folder", "renamed inside the inbox"],
)
async def test_a_file_renamed_into_the_inbox_is_taken_at_once(tmp_path: Path, source: str) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    written = tmp_path / source
    written.parent.mkdir(exist_ok=True)
    async with trio.open_nursery() as nursery:
        receive = await _start(nursery, inbox)
        written.write_text('{"events": []}')
        os.rename(written, inbox / "a.json")
        with trio.fail_after(10):
            assert await receive.receive() == inbox / "a.json"
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_file_written_in_place_waits_for_the_settle_period(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    async with trio.open_nursery() as nursery:
        receive = await _start(nursery, inbox)
        with (inbox / "c.json").open("w") as out:
            out.write('{"events": [')
            out.flush()
            await trio.sleep(0.5)
            out.write("]}")
        with trio.move_on_after(1.5) as waited:
            await receive.receive()
        assert waited.cancelled_caught, "a file written in place is not taken before it settles"
        # A moved-in file is still taken while the other one settles.
        (tmp_path / "d.json").write_text('{"events": []}')
        os.rename(tmp_path / "d.json", inbox / "d.json")
        with trio.fail_after(10):
            assert await receive.receive() == inbox / "d.json"
        nursery.cancel_scope.cancel()


def test_parse_events_reads_names_and_masks() -> None:
    def event(mask: int, name: bytes, pad: int) -> bytes:
        raw = name + b"\0" * pad
        return (
            (1).to_bytes(4, "little", signed=True)
            + b"".join(v.to_bytes(4, "little") for v in (mask, 0, len(raw)))
            + raw
        )

    buffer = event(IN_MOVED_TO, b"a.json", 10) + event(IN_MOVED_TO, "ü.json".encode(), 3)
    assert list(parse_events(buffer)) == [(IN_MOVED_TO, "a.json"), (IN_MOVED_TO, "ü.json")]


# Three sources' files of two days: by name the sources would come one after another.
BACKLOG = [
    "wnb_03.02.2026_2026-02-03T20-00-00-000Z.json",
    "abz_04.02.2026_2026-02-04T06-15-00-000Z.json",
    "abz_02.02.2026_2026-02-02T20-00-00-000Z.json",
    "bwb_03.02.2026_2026-02-03T08-30-00-000Z.json",
]
PUBLISHED = [BACKLOG[2], BACKLOG[3], BACKLOG[0], BACKLOG[1]]


@pytest.mark.trio
async def test_a_backlog_in_the_inbox_at_start_is_offered_in_publication_order(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in BACKLOG:
        (inbox / name).write_text('{"events": []}')
        os.utime(inbox / name, (1e9, 1e9))  # lying there since long before the start
    async with trio.open_nursery() as nursery:
        receive = await _start(nursery, inbox)
        with trio.fail_after(10):
            offered = [(await receive.receive()).name for _ in BACKLOG]
        nursery.cancel_scope.cancel()
    assert offered == PUBLISHED


def test_ingest_takes_a_folder_in_publication_order(tmp_path: Path) -> None:
    from eventdedup.runner import expand_paths

    for name in [*BACKLOG, "notes.txt", "manual.json"]:
        (tmp_path / name).write_text('{"events": []}')
    assert [p.name for p in expand_paths([tmp_path])] == ["manual.json", *PUBLISHED]


@pytest.mark.trio
async def test_the_watcher_and_ingest_list_a_folder_alike(tmp_path: Path) -> None:
    from eventdedup.runner import expand_paths

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in BACKLOG:
        (inbox / name).write_text('{"events": []}')
        os.utime(inbox / name, (1e9, 1e9))
    (inbox / "zz_link_05.02.2026.json").symlink_to(tmp_path / "nowhere.json")
    os.utime(inbox / "zz_link_05.02.2026.json", (1e9, 1e9), follow_symlinks=False)
    (inbox / "dir.json").mkdir()
    (inbox / ".x.json").write_text("{}")
    listed = [p.name for p in expand_paths([inbox])]
    assert listed == [*PUBLISHED, "zz_link_05.02.2026.json"]
    async with trio.open_nursery() as nursery:
        receive = await _start(nursery, inbox)
        with trio.fail_after(10):
            offered = [(await receive.receive()).name for _ in listed]
        nursery.cancel_scope.cancel()
    assert offered == listed


@pytest.mark.trio
async def test_ingest_dead_letters_a_symlink_in_a_folder_unread(
    tmp_path: Path, database_url: str
) -> None:
    from eventdedup.runner import ingest_paths
    from tests.daemon.harness import make_settings
    from tests.reliability._daemon import make_event, make_file

    backlog = tmp_path / "backlog"
    backlog.mkdir()
    (backlog / "bwb_01.03.2026.json").write_text(json.dumps(make_file([make_event("link")])))
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(make_file([make_event("secret")])))
    (backlog / "bwb_02.03.2026.json").symlink_to(secret)
    (backlog / "bwb_03.03.2026.json").symlink_to(tmp_path / "nowhere.json")
    settings = make_settings(tmp_path, database_url)

    assert await ingest_paths(settings, [backlog], keep=True) == 2

    assert [p.name for p in settings.archive_dir.iterdir()] == ["bwb_01.03.2026.json"]
    for name in ["bwb_02.03.2026.json", "bwb_03.03.2026.json"]:
        assert (settings.dead_letter_dir / name).is_symlink()
        sidecar = json.loads((settings.dead_letter_dir / f"{name}.error.json").read_text())
        assert "symlinks are never followed" in sidecar["reason"]
    assert (backlog / "bwb_02.03.2026.json").is_symlink(), "--keep: the original stays"
    assert secret.exists()
