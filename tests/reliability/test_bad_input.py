"""Bad input, end to end through the real daemon: a reason for every refusal, and it carries on.

One daemon process serves the whole module (several inputs per start keeps
this fast); every input is generated here. For each bad file the daemon
records a ``failed`` row, moves the file to the dead letters with a
``.error.json`` sidecar whose reason names the problem, stays healthy, and
processes the next good file. Problems inside single events quarantine just
those events (``<stem>.rejected.json`` + sidecar); the rest of the file is stored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests._support.db import rows, scalar
from tests._support.wait import wait_until
from tests.conftest import scratch_database
from tests.reliability._daemon import (
    DaemonProcess,
    RssSampler,
    Zygote,
    drop_bytes,
    drop_json,
    engine_for,
    ingestion,
    make_event,
    make_file,
    wait_ingested,
)

MB = 1024 * 1024


@pytest.fixture(scope="module")
def module_database_url(pg_admin_url: str) -> Iterator[str]:
    with scratch_database(pg_admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, module_database_url: str, zygote: Zygote
) -> Iterator[DaemonProcess]:
    process = DaemonProcess(
        tmp_path_factory.mktemp("bad-input"), module_database_url, zygote=zygote
    )
    try:
        process.start()
        process.wait_health(200, 120)
        yield process
        assert process.running(), f"the daemon died:\n{process.log()[-3000:]}"
        process.terminate()
        assert process.wait(60) == 0
    finally:
        process.close()


@pytest.fixture(scope="module")
def engine(module_database_url: str) -> Iterator[sa.Engine]:
    eng = engine_for(module_database_url)
    yield eng
    eng.dispose()


def good_file(key: str, n: int = 2) -> dict[str, Any]:
    return make_file([make_event(key, i) for i in range(n)])


def carries_on(daemon: DaemonProcess, engine: sa.Engine, key: str) -> None:
    """Still healthy, and the next good file is processed."""
    response = daemon.health()
    assert response is not None and response.status_code == 200, response and response.text
    name = f"bwb_next-{key}_01.03.2026.json"
    drop_json(daemon.inbox, name, good_file(f"next-{key}"))
    row = wait_ingested(engine, name)
    assert (row.state, row.events_accepted) == ("completed", 2)


def sidecar(daemon: DaemonProcess, name: str) -> dict[str, Any]:
    return json.loads((daemon.dead_letters / f"{name}.error.json").read_text())


def deeply_nested(levels: int) -> bytes:
    return b'{"events": [' + b"[" * levels + b"]" * levels + b"]}"


#: File-level problems: name → (bytes, words the reason must contain).
FILE_LEVEL: dict[str, tuple[bytes, list[str]]] = {
    "bwb_empty_01.03.2026.json": (b"", ["empty"]),
    "bwb_blank_01.03.2026.json": (b" \n\t\n", ["empty", "whitespace"]),
    "bwb_truncated_01.03.2026.json": (
        json.dumps(good_file("trunc", 5)).encode()[:150],
        ["invalid JSON", "ends early"],
    ),
    "bwb_image_01.03.2026.json": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        ["binary", "NUL"],
    ),
    "bwb_latin1_01.03.2026.json": (
        json.dumps(good_file("latin"), ensure_ascii=False)
        .replace("Zuverlässig", "Grüße")
        .encode("latin-1"),
        ["not valid UTF-8", "Latin-1"],
    ),
    "bwb_list_01.03.2026.json": (b'[{"events": []}]', ["top level must be an object", "array"]),
    "bwb_string_01.03.2026.json": (b'"events"', ["top level must be an object", "string"]),
    "bwb_noevents_01.03.2026.json": (b'{"metadata": {"sourceKey": "x"}}', ["missing", "events"]),
    "bwb_eventsobject_01.03.2026.json": (
        b'{"events": {"0": {}}}',
        ["'events' must be an array", "object"],
    ),
    "bwb_deep_01.03.2026.json": (deeply_nested(10_000), ["nested deeper than"]),
    "bwb_toomany_01.03.2026.json": (
        json.dumps({"events": [{}] * 10_001}).encode(),
        ["10001 events", "limit is 10000"],
    ),
    "_nosource.json": (json.dumps(good_file("nosource")).encode(), ["empty source code"]),
}


@pytest.fixture(scope="module")
def file_level(daemon: DaemonProcess, engine: sa.Engine) -> dict[str, sa.Row[Any]]:
    """Drop every file-level bad input at once; their rows once all are handled."""
    for name, (data, _) in FILE_LEVEL.items():
        drop_bytes(daemon.inbox, name, data)

    def finished(name: str) -> sa.Row[Any] | None:  # moved_to is recorded after the move
        row = ingestion(engine, name)
        return row if row is not None and row.moved_to is not None else None

    return {name: wait_until(lambda n=name: finished(n), 60, name) for name in FILE_LEVEL}


@pytest.mark.parametrize("name", list(FILE_LEVEL))
def test_bad_file_is_dead_lettered_with_a_reason_that_names_the_problem(
    name: str,
    daemon: DaemonProcess,
    file_level: dict[str, sa.Row[Any]],
) -> None:
    data, words = FILE_LEVEL[name]
    row = file_level[name]
    assert row.state == "failed"
    reason = row.error["reason"]
    for word in words:
        assert word in reason, f"{reason!r} should say {word!r}"
    assert not (daemon.inbox / name).exists()
    assert (daemon.dead_letters / name).read_bytes() == data, "dead-lettered unchanged"
    assert sidecar(daemon, name)["reason"] == reason
    assert row.moved_to == str(daemon.dead_letters / name)


def test_daemon_stays_healthy_and_processes_the_next_good_file_after_bad_ones(
    daemon: DaemonProcess,
    engine: sa.Engine,
    file_level: dict[str, sa.Row[Any]],
) -> None:
    carries_on(daemon, engine, "after-bad-files")
    body = daemon.health().json()  # type: ignore[union-attr]
    assert all(a["restarts"] == 0 for a in body["actors"]), body


def test_a_file_the_database_refuses_is_dead_lettered_and_can_be_dropped_back(
    daemon: DaemonProcess, engine: sa.Engine
) -> None:
    """Content the database will not take (here a constraint an operator added) fails that
    file alone, with the database's reason, after one more try; the processor is not
    restarted, and the file, dropped back once the database takes it, is stored."""
    name = "bwb_refused_01.03.2026.json"
    data = make_file([make_event("refused", 0, title="Wird abgelehnt")])
    stored = "SELECT count(*) FROM source_events WHERE id = 'rel-refused-0'"
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "ALTER TABLE source_events ADD CONSTRAINT test_refused "
                "CHECK (title <> 'Wird abgelehnt') NOT VALID"
            )
        )
    try:
        drop_json(daemon.inbox, name, data)
        row = wait_ingested(engine, name)
        assert (row.state, row.moved_to) == ("failed", str(daemon.dead_letters / name))
        reason = sidecar(daemon, name)["reason"]
        assert reason.startswith("the database refused to store it: new row for relation")
        assert '"test_refused"' in reason
        assert scalar(engine, stored) == 0
        body = daemon.health().json()  # type: ignore[union-attr]
        assert all(a["restarts"] == 0 for a in body["actors"]), body
        carries_on(daemon, engine, "after-refused")
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE source_events DROP CONSTRAINT test_refused"))
    (daemon.dead_letters / name).rename(daemon.inbox / name)
    wait_until(
        lambda: scalar(
            engine,
            "SELECT count(*) FROM file_ingestions WHERE filename = :n AND state = 'completed'",
            n=name,
        ),
        60,
        f"{name!r} to be stored once dropped back",
    )
    assert scalar(engine, stored) == 1


def test_bad_events_are_quarantined_and_the_rest_of_the_file_is_stored(
    daemon: DaemonProcess,
    engine: sa.Engine,
) -> None:
    name = "bwb_mixed_01.03.2026.json"
    uhr = make_event("mixed", 2, event_dates=[{"date": "2026-03-05", "start_time": "19 Uhr"}])
    bad = {
        3: make_event("mixed", 3, title=123),  # a number where a string belongs
        4: make_event("mixed", 4, location={"city": "Emmendingen", "zipcode": 79312}),
        5: make_event("mixed", 5, event_dates=[{"date": "0000-01-01"}]),  # year 0
        6: make_event("mixed", 6, event_dates=[{"date": "2026-02-30"}]),  # no such day
        7: make_event("mixed", 7, event_dates=[{"date": "2026-03-05", "start_time": "25:00"}]),
        8: 42,  # an event that is a number
        9: "Konzert am Freitag",  # an event that is a string
        10: {"title": "ohne id", "source_type": "artikel"},
    }
    names_the_problem = {
        3: "title",
        4: "zipcode",
        5: "date",
        6: "date",
        7: "start_time",
        8: "object",
        9: "object",
        10: "id",
    }
    events = [make_event("mixed", 0), make_event("mixed", 1), uhr, *bad.values()]
    drop_json(daemon.inbox, name, make_file(events))
    row = wait_ingested(engine, name)
    assert (row.state, row.events_accepted, row.events_rejected) == ("completed", 3, len(bad))
    # the file is moved (and its quarantine written) after the transaction commits
    stem = name.removesuffix(".json")
    wait_until(
        lambda: (
            (daemon.archive / name).exists()
            and (daemon.dead_letters / f"{stem}.rejected.json").exists()
        ),
        30,
        "the move",
    )
    quarantined = json.loads((daemon.dead_letters / f"{stem}.rejected.json").read_text())
    assert quarantined["events"] == list(bad.values()), "kept verbatim, to fix and re-drop"
    reasons = json.loads((daemon.dead_letters / f"{stem}.rejected.json.error.json").read_text())[
        "events"
    ]
    assert [r["index"] for r in reasons] == list(bad)
    for r in reasons:
        assert names_the_problem[r["index"]] in r["reason"], r
    assert "year" in reasons[2]["reason"] or "0000" in reasons[2]["reason"]
    # "19 Uhr" is a time of day by design (docs/domain.md §1.4 made it "no time"; here: 19:00).
    assert (
        str(scalar(engine, "SELECT start_time FROM event_dates WHERE event_id = :i", i=uhr["id"]))
        == "19:00:00"
    )
    carries_on(daemon, engine, "after-bad-events")


def test_utf8_bom_is_accepted(daemon: DaemonProcess, engine: sa.Engine) -> None:
    name = "bwb_bom_01.03.2026.json"
    drop_bytes(daemon.inbox, name, b"\xef\xbb\xbf" + json.dumps(good_file("bom")).encode())
    row = wait_ingested(engine, name)
    assert (row.state, row.events_accepted) == ("completed", 2)


def test_unusual_file_names_are_processed_under_their_own_name(
    daemon: DaemonProcess,
    engine: sa.Engine,
) -> None:
    names = [
        "bwb mit Leerzeichen_01.03.2026.json",
        "bwb_Grüße aus Köln_01.03.2026.json",
        "bwb_Gru\u0308ße zerlegt_01.03.2026.json",  # decomposed umlaut, as macOS writes it
        "bwb_Zeilen\numbruch_01.03.2026.json",
        "bwb_a..b_01.03.2026.json",
        "bwb_.._01.03.2026.json",
    ]
    for i, name in enumerate(names):
        drop_json(daemon.inbox, name, good_file(f"name{i}"))
    hidden = "..bwb_versteckt_01.03.2026.json"  # a dot-file: a temp name by convention
    drop_json(daemon.inbox, hidden, good_file("hidden"))
    for name in names:
        row = wait_ingested(engine, name)
        assert (row.state, row.events_accepted) == ("completed", 2), name
        # moved after the transaction commits
        wait_until(lambda name=name: (daemon.archive / name).exists(), 30, f"{name!r} archived")
    assert sorted(os.listdir(daemon.archive)) == sorted(
        set(os.listdir(daemon.archive))
    )  # nothing escaped the archive folder
    assert not any((daemon.root / n).exists() for n in ("archive.json", "..json"))
    carries_on(daemon, engine, "after-names")
    assert (daemon.inbox / hidden).exists(), "dot-files are left alone"
    assert ingestion(engine, hidden) is None


def test_symlink_in_the_inbox_is_dead_lettered_as_a_link_and_its_target_untouched(
    daemon: DaemonProcess,
    engine: sa.Engine,
) -> None:
    outside = daemon.root / "outside"
    outside.mkdir(exist_ok=True)
    target = outside / "secret.json"
    content = json.dumps(good_file("secret")).encode()
    target.write_bytes(content)
    before = target.stat()
    name = "bwb_link_01.03.2026.json"
    os.symlink(target, daemon.inbox / name)
    row = wait_ingested(engine, name)
    assert row.state == "failed"
    assert "symlink" in row.error["reason"]
    moved = daemon.dead_letters / name
    assert moved.is_symlink() and os.readlink(moved) == str(target)
    assert target.read_bytes() == content
    assert target.stat().st_mtime_ns == before.st_mtime_ns
    assert ingestion(engine, "secret.json") is None
    assert scalar(engine, "SELECT count(*) FROM source_events WHERE id LIKE 'rel-secret-%'") == 0
    carries_on(daemon, engine, "after-symlink")


def test_200_mb_file_is_refused_by_size_without_reading_it(
    daemon: DaemonProcess,
    engine: sa.Engine,
    figures: dict[str, Any],
) -> None:
    name = "bwb_huge_01.03.2026.json"
    size = 200 * MB
    tmp = daemon.inbox / ".huge.tmp"
    with tmp.open("wb") as f:  # valid JSON (whitespace): reading it would cost far more
        f.write(b'{"events": [')
        chunk = b" " * MB
        for _ in range(size // MB - 1):
            f.write(chunk)
        f.write(b" " * (MB - 14) + b"]}")
    assert tmp.stat().st_size == size
    with RssSampler(daemon.pid) as rss:
        baseline = rss.peak
        os.replace(tmp, daemon.inbox / name)
        row = wait_ingested(engine, name, timeout=60)
    assert row.state == "failed"
    # The default limit is 50 MiB, which the reason gives in decimal units: "52.4 MB".
    assert row.error["reason"] == (
        f"file is 209.7 MB (209715200 bytes); the limit is 52.4 MB ({50 * MB} bytes)"
    )
    assert row.file_hash == "", "refused unread: not even hashed"
    assert (daemon.dead_letters / name).stat().st_size == size
    growth = rss.peak - baseline
    assert growth < 50 * MB, f"RSS grew by {growth / MB:.0f} MB for a file it should not read"
    carries_on(daemon, engine, "after-huge")
    figures["bad_input.200mb_peak_rss_mb"] = round(rss.peak / MB)
    figures["bad_input.200mb_rss_growth_mb"] = round(growth / MB, 1)


@pytest.mark.slow
def test_10000_events_and_a_new_version_dropped_over_it_while_it_is_processed(
    daemon: DaemonProcess,
    engine: sa.Engine,
    figures: dict[str, Any],
) -> None:
    """The event limit is accepted in full; a replacement landing meanwhile is not lost."""
    name = "bwb_tenthousand_01.03.2026.json"
    first = make_file(
        [
            {"id": f"tenk-{i}", "title": f"Eintrag {i}", "source_type": "terminliste"}
            for i in range(10_000)
        ]
    )
    second = good_file("tenk-v2")
    with RssSampler(daemon.pid) as rss:
        first_hash = hashlib.sha256(drop_json(daemon.inbox, name, first).read_bytes()).hexdigest()
        wait_until(lambda: _claimed_or_done(engine, first_hash), 60, "processing to start")
        drop_json(daemon.inbox, name, second)  # os.replace while the first is processed
        wait_until(
            lambda: (
                len(rows(engine, "SELECT 1 FROM file_ingestions WHERE filename = :f", f=name)) == 2
            ),
            180,
            "both versions",
        )
    versions = rows(
        engine,
        "SELECT state, events_accepted, duration_ms FROM file_ingestions "
        "WHERE filename = :f ORDER BY id",
        f=name,
    )
    assert [(v.state, v.events_accepted) for v in versions] == [
        ("completed", 10_000),
        ("completed", 2),
    ]
    wait_until(lambda: not (daemon.inbox / name).exists(), 30, "the second version's move")
    assert json.loads((daemon.archive / name).read_text()) == second, "the newest is archived"
    assert scalar(engine, "SELECT count(*) FROM source_events WHERE id LIKE 'tenk-%'") == 10_000
    assert scalar(engine, "SELECT count(*) FROM source_events WHERE id LIKE 'rel-tenk-v2-%'") == 2
    carries_on(daemon, engine, "after-10000")
    figures["bad_input.10000_events_seconds"] = round(versions[0].duration_ms / 1000, 1)
    figures["bad_input.10000_events_peak_rss_mb"] = round(rss.peak / MB)


def _claimed_or_done(engine: sa.Engine, file_hash: str) -> bool:
    """The processor holds the claim on this file (``db.events.try_lock_file``, taken once
    it has read the file), or has already stored it.  Other advisory locks (matching,
    outbox, the resolver) say nothing about this file."""
    claimed = scalar(
        engine,
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((classid::bigint << 32) | objid::bigint) = hashtextextended(:h, 0)",
        h=file_hash,
    )
    done = scalar(engine, "SELECT count(*) FROM file_ingestions WHERE file_hash = :h", h=file_hash)
    return bool(claimed or done)
