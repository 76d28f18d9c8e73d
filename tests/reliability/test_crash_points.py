"""A crash at each step of processing one file, then a restart: the end state is always the same.

Random ``kill -9`` (test_crash_consistency) mostly lands in the long parts
(parsing, matching, the transaction). The steps *after* the commit — moving
the file, writing the sidecars — take milliseconds, so random kills almost
never hit them. Here the pipeline is stopped deterministically at each of
those points by raising :class:`Killed` (a ``BaseException``, so no
``except Exception`` handler can swallow it: nothing after that point runs,
exactly as after ``SIGKILL``; an open transaction is rolled back, as the
server does when the connection drops). A fresh :class:`FileProcessor` —
the restarted daemon — then processes whatever is still in the inbox.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import eventdedup.db.events
import eventdedup.db.outbox
import eventdedup.pipeline
from eventdedup.pipeline import FileProcessor
from tests._support.db import rows, scalar
from tests._support.pipeline import file_processor
from tests.reliability._daemon import drop_bytes, make_event, make_file

GOOD = "ets_crash_01.03.2026.json"
BROKEN = "rks_crash_01.03.2026.json"
GOOD_DATA = json.dumps(
    make_file(
        [make_event("crash", i) for i in range(3)]
        + [make_event("crash", 3, event_dates=[{"date": "2026-02-30"}])]
    )
).encode()
BROKEN_DATA = b'{"events": [{"id": "x", "title": '


class Killed(BaseException):
    """Stands for SIGKILL at this point: nothing after it runs."""


def die_once(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    attr: str,
    *,
    after: bool = False,
    when: Callable[..., bool] = lambda *a, **k: True,
) -> None:
    """Make ``owner.attr`` kill the 'process' on its first matching call (before or after it)."""
    real = getattr(owner, attr)
    fired: list[bool] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if fired or not when(*args, **kwargs):
            return real(*args, **kwargs)
        fired.append(True)
        if after:
            real(*args, **kwargs)
        raise Killed(attr)

    monkeypatch.setattr(owner, attr, wrapper)


def new_processor(engine: sa.Engine, tmp_path: Path) -> FileProcessor:
    """What the daemon builds at start; a new one stands for the restarted process."""
    return file_processor(engine, tmp_path)


def visible(folder: Path) -> list[str]:
    """Entries an operator sees (our dot-temp files are invisible to the watcher too)."""
    return sorted(n for n in os.listdir(folder) if not n.startswith(".")) if folder.exists() else []


def unlinking(target: Path) -> Callable[..., bool]:
    return lambda path, *a, **k: Path(path) == target


CRASH_POINTS: dict[str, Callable[[pytest.MonkeyPatch, Path], None]] = {
    "inside the transaction": lambda mp, path: die_once(
        mp, eventdedup.db.outbox, "append", after=True
    ),
    "after the commit, before the move": lambda mp, path: die_once(
        mp, eventdedup.pipeline, "dead_letter" if path.name == BROKEN else "move_unique"
    ),
    "after linking into the target folder, before unlinking from the inbox": lambda mp, path: (
        die_once(mp, os, "unlink", when=unlinking(path))
    ),
    "after the move, before the rejected events are written": lambda mp, path: die_once(
        mp, eventdedup.pipeline, "write_rejected_events"
    ),
    "after the dead-letter move, before moved_to is recorded": lambda mp, path: die_once(
        mp, eventdedup.db.events, "update_file"
    ),
}
CASES = [
    *((point, GOOD) for point in list(CRASH_POINTS)[:4]),
    *((point, BROKEN) for point in list(CRASH_POINTS) if "rejected" not in point),
]


@pytest.mark.parametrize(("point", "name"), CASES)
def test_crash_at_each_step_then_restart_ends_in_the_same_state(
    point: str,
    name: str,
    tmp_path: Path,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = drop_bytes(inbox, name, GOOD_DATA if name == GOOD else BROKEN_DATA)

    with monkeypatch.context() as mp:
        CRASH_POINTS[point](mp, path)
        with pytest.raises(Killed):
            new_processor(migrated_engine, tmp_path).process(path)
    if path.exists():  # the restarted daemon's watcher finds it again
        again = new_processor(migrated_engine, tmp_path).process(path)
        assert again.outcome in ("processed", "archived", "failed"), again

    assert visible(inbox) == []
    files = rows(migrated_engine, "SELECT id, state, events_accepted FROM file_ingestions")
    messages = rows(migrated_engine, "SELECT type, data FROM outbox ORDER BY seq")
    if name == GOOD:
        stem = GOOD.removesuffix(".json")
        assert visible(tmp_path / "archive") == [GOOD]
        assert (tmp_path / "archive" / GOOD).read_bytes() == GOOD_DATA
        assert visible(tmp_path / "dead_letters") == [
            f"{stem}.rejected.json",
            f"{stem}.rejected.json.error.json",
        ]
        quarantined = json.loads((tmp_path / "dead_letters" / f"{stem}.rejected.json").read_text())
        assert [e["id"] for e in quarantined["events"]] == ["rel-crash-3"]
        assert [(f.state, f.events_accepted) for f in files] == [("completed", 3)]
        assert scalar(migrated_engine, "SELECT count(*) FROM source_events") == 3
        assert [m.type for m in messages if m.type.startswith("file.")] == ["file.processed"]
    else:
        assert visible(tmp_path / "archive") == []
        assert visible(tmp_path / "dead_letters") == [BROKEN, f"{BROKEN}.error.json"]
        assert (tmp_path / "dead_letters" / BROKEN).read_bytes() == BROKEN_DATA
        assert [f.state for f in files] == ["failed"], "dead-lettered once, recorded once"
        failed = [m.data for m in messages if m.type == "file.failed"]
        # Notifications are at-least-once: a repeat (crash between commit and move) names
        # the same file_id, so a consumer can tell.
        assert failed and {m["file_id"] for m in failed} == {files[0].id}
        sidecar = json.loads((tmp_path / "dead_letters" / f"{BROKEN}.error.json").read_text())
        assert "JSON" in sidecar["reason"]


def test_file_replaced_while_being_processed_is_not_archived_unread(
    tmp_path: Path,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A producer ``os.replace``s a new version while the old one is being processed.

    The old version's content is committed; the new version must stay in the
    inbox (and be processed next), never be moved to the archive unread.
    """
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    name = "bwb_replaced_01.03.2026.json"
    old = json.dumps(make_file([make_event("old", i) for i in range(2)])).encode()
    new = json.dumps(make_file([make_event("new", i) for i in range(2)])).encode()
    path = drop_bytes(inbox, name, old)
    real_load = eventdedup.pipeline.load_file

    def load_then_replace(data: bytes, *args: Any, **kwargs: Any) -> Any:
        loaded = real_load(data, *args, **kwargs)
        if data == old:
            drop_bytes(inbox, name, new)  # the file was read; now a new version lands
        return loaded

    monkeypatch.setattr(eventdedup.pipeline, "load_file", load_then_replace)
    first = new_processor(migrated_engine, tmp_path).process(path)
    assert first.outcome == "processed"
    assert path.read_bytes() == new, "the new version must stay in the inbox"
    assert visible(tmp_path / "archive") == []

    second = new_processor(migrated_engine, tmp_path).process(path)
    assert second.outcome == "processed"
    assert visible(inbox) == []
    assert (tmp_path / "archive" / name).read_bytes() == new
    ids = {r.id for r in rows(migrated_engine, "SELECT id FROM source_events")}
    assert ids == {"rel-old-0", "rel-old-1", "rel-new-0", "rel-new-1"}


@pytest.mark.parametrize("data", [BROKEN_DATA, None], ids=["broken", "too large"])
def test_a_failing_file_claimed_elsewhere_is_left_alone(
    data: bytes | None,
    tmp_path: Path,
    migrated_engine: sa.Engine,
) -> None:
    """Another replica failing the same file right now holds its claim: this one waits.

    Otherwise both would record it (two ``file_ingestions`` rows, two notices).
    A file refused unread (too large) has no hash; it is claimed by name and size.
    """
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    path = drop_bytes(inbox, BROKEN, BROKEN_DATA if data is None else data)
    processor = new_processor(migrated_engine, tmp_path)
    if data is None:
        processor.max_file_bytes = 8
    parsed = processor.parse(path)
    assert parsed.failure is not None
    claim = parsed.file_hash or f"unread:{BROKEN}:{parsed.size}"
    with migrated_engine.begin() as other_replica:
        assert eventdedup.db.events.try_lock_file(other_replica, claim)
        assert processor.commit(parsed).outcome == "busy"
    assert visible(inbox) == [BROKEN]
    assert scalar(migrated_engine, "SELECT count(*) FROM file_ingestions") == 0
    outcome = processor.commit(processor.parse(path))
    assert outcome.outcome == "failed"
    assert visible(inbox) == []
    assert scalar(migrated_engine, "SELECT count(*) FROM file_ingestions") == 1
