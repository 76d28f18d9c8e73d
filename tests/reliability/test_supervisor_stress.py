"""The supervisor under stress: crash loops escalate, transient actors stay done, SIGTERM."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio

from eventdedup.daemon import MAX_RESTARTS, build_daemon
from eventdedup.pipeline import FileProcessor
from supervisor import ChildState, SupervisorEscalation
from tests._support.db import rows, scalar
from tests._support.wait import wait_until
from tests.daemon.harness import make_settings
from tests.reliability._daemon import (
    DaemonProcess,
    Zygote,
    drop_json,
    engine_for,
    make_event,
    make_file,
)


def small_file(key: str) -> dict[str, Any]:
    return make_file([make_event(key, i) for i in range(2)])


@pytest.mark.trio
async def test_crash_looping_processor_escalates_and_stops_every_actor(
    tmp_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    figures: dict[str, Any],
) -> None:
    def always_fails(self: FileProcessor, parsed: object) -> None:
        raise RuntimeError("injected fault: the processor always fails")

    monkeypatch.setattr(FileProcessor, "commit", always_fails)
    settings = make_settings(tmp_path, database_url, rescan_seconds=0.5)
    daemon = build_daemon(settings, database_url)
    names = [f"bwb_loop{i}_01.03.2026.json" for i in range(MAX_RESTARTS + 2)]
    for name in names:
        drop_json(settings.event_data_dir, name, small_file(name))
    started = trio.current_time()
    try:
        with trio.fail_after(60), pytest.raises(SupervisorEscalation) as info:
            await daemon.supervisor.run()
    finally:
        daemon.db.dispose()
    escalated_after = trio.current_time() - started

    assert info.value.child == "processor"
    assert info.value.restarts == MAX_RESTARTS + 1
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "injected fault" in str(info.value.__cause__)
    status = {s.name: s for s in daemon.supervisor.status()}
    assert status["processor"].state is ChildState.FAILED
    assert "injected fault" in (status["processor"].last_error or "")
    # The transient migrator finished once and was never re-run, whatever else crashed.
    assert status["migrator"].state is ChildState.COMPLETED
    assert status["migrator"].restarts == 0
    for name in ("http", "feed", "watcher"):
        assert status[name].state is ChildState.STOPPED, status[name]
    # Nothing was lost: every file is still in the inbox for the next start.
    assert sorted(p.name for p in settings.event_data_dir.glob("*.json")) == sorted(names)
    figures["supervisor.in_process_seconds_to_escalation"] = round(escalated_after, 1)


@pytest.mark.slow
def test_crash_looping_daemon_process_exits_1_and_names_the_cause(
    tmp_path: Path,
    database_url: str,
    zygote: Zygote,
    figures: dict[str, Any],
) -> None:
    daemon = DaemonProcess(
        tmp_path,
        database_url,
        zygote=zygote,
        inject="processor-always-fails",
        EVENT_DEDUP_RESCAN_SECONDS="0.5",
    )
    try:
        daemon.start()
        daemon.wait_health(200, 120)
        for i in range(MAX_RESTARTS + 2):
            drop_json(daemon.inbox, f"bwb_loop{i}_01.03.2026.json", small_file(f"p{i}"))
        started = time.monotonic()
        code = daemon.wait(60)
    finally:
        daemon.close()
    log = daemon.log()
    assert code == 1, log[-3000:]
    critical = [line for line in log.splitlines() if "CRITICAL" in line]
    assert critical, log[-3000:]
    assert "processor" in critical[-1]
    assert "injected fault: the processor always fails" in critical[-1]
    assert f"exceed max_restarts={MAX_RESTARTS}" in critical[-1]
    assert "actor migrator is starting" in log and log.count("actor migrator is starting") == 1
    figures["supervisor.crash_loop_exit_code"] = code
    figures["supervisor.crash_loop_seconds_to_exit"] = round(time.monotonic() - started, 1)


def _accepted(engine: sa.Engine, name: str) -> bool:
    return bool(
        scalar(
            engine,
            "SELECT count(*) FROM outbox WHERE type = 'file.accepted' AND data->>'file' = :f",
            f=name,
        )
    )


def _fully_processed_or_untouched(
    daemon: DaemonProcess, engine: sa.Engine, name: str, events: int
) -> str:
    """The only two acceptable states of a file after a stop; returns which one it is."""
    files = rows(
        engine, "SELECT id, state, events_accepted FROM file_ingestions WHERE filename = :f", f=name
    )
    stored = scalar(engine, "SELECT count(*) FROM source_events")
    if (daemon.archive / name).exists():
        assert not (daemon.inbox / name).exists()
        assert [(f.state, f.events_accepted) for f in files] == [("completed", events)]
        assert stored == events
        return "finished"
    assert (daemon.inbox / name).exists(), "neither archived nor in the inbox"
    assert files == [], "a row for a file that was not finished"
    assert stored == 0, "events of a file that was not finished"
    return "rolled back"


@pytest.mark.slow
def test_sigterm_right_after_a_big_file_was_accepted_finishes_it_and_exits_0(
    tmp_path: Path,
    database_url: str,
    zygote: Zygote,
    figures: dict[str, Any],
) -> None:
    engine = engine_for(database_url)
    daemon = DaemonProcess(tmp_path, database_url, zygote=zygote)
    name = "bwb_big_01.03.2026.json"
    events = 6000
    big = make_file(
        [
            {"id": f"big-{i}", "title": f"Eintrag {i}", "source_type": "terminliste"}
            for i in range(events)
        ]
    )
    try:
        daemon.start()
        daemon.wait_health(200, 120)
        drop_json(daemon.inbox, name, big)
        wait_until(lambda: _accepted(engine, name), 30, "file.accepted", interval=0.02)
        daemon.terminate()
        signalled = time.monotonic()
        code = daemon.wait(45)  # catches a hang; the time it took is a figure
        stopped_after = time.monotonic() - signalled
    finally:
        daemon.close()
    assert code == 0, daemon.log()[-3000:]
    assert "stopped cleanly" in daemon.log()
    state = _fully_processed_or_untouched(daemon, engine, name, events)
    engine.dispose()
    figures["sigterm.big_file_events"] = events
    figures["sigterm.big_file_outcome"] = state
    figures["sigterm.seconds_to_exit"] = round(stopped_after, 1)


@pytest.mark.slow
def test_sigterm_during_a_file_longer_than_the_shutdown_timeout_rolls_it_back_and_exits_0(
    tmp_path: Path,
    database_url: str,
    zygote: Zygote,
    figures: dict[str, Any],
) -> None:
    """Matching made to take 120 s: the stop may not wait for it (shutdown timeout 30 s)."""
    engine = engine_for(database_url)
    daemon = DaemonProcess(tmp_path, database_url, zygote=zygote, inject="slow-matching:120")
    name = "bwb_slow_01.03.2026.json"
    try:
        daemon.start()
        daemon.wait_health(200, 120)
        drop_json(daemon.inbox, name, small_file("slow"))
        # idle in a transaction for over a second: the file's, held open by the slow
        # matching (a feed append is idle in its transaction only for milliseconds)
        wait_until(
            lambda: scalar(
                engine,
                "SELECT count(*) FROM pg_stat_activity WHERE "
                "datname = current_database() AND state = "
                "'idle in transaction' AND "
                "now() - xact_start > interval '1 second'",
            ),
            30,
            "the file's transaction",
        )
        daemon.terminate()
        signalled = time.monotonic()
        code = daemon.wait(60)  # well before the 120 s the file would take: it was not awaited
        stopped_after = time.monotonic() - signalled
    finally:
        daemon.close()
    log = daemon.log()
    assert code == 0, log[-3000:]
    assert "did not finish within the shutdown timeout" in log
    assert _fully_processed_or_untouched(daemon, engine, name, 2) == "rolled back"
    wait_until(
        lambda: (
            not scalar(
                engine,
                "SELECT count(*) FROM pg_stat_activity WHERE datname "
                "= current_database() AND application_name = "
                "'eventdedup'",
            )
        ),
        10,
        "the server to drop the session",
    )
    engine.dispose()
    figures["sigterm.slow_file_seconds_to_exit"] = round(stopped_after, 1)
