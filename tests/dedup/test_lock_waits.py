"""A file kept waiting for its match locks says who holds them, and still gets them.

The case that hangs a replica: another session took a region lock and then sat
idle in its transaction.  The waiting file logs that session (pid, state, its
last query) after ``report_after`` seconds, again after each further turn, and
goes on waiting; once the holder lets go it has its locks, and its transaction
waits for everything else as before (``lock_timeout`` restored).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from eventdedup.db.dedup import prepare_events
from eventdedup.db.locks import REGION_CLASS, FileLocks, lock_file, wanted
from eventdedup.ingest.loader import load_file
from tests._support.wait import wait_until
from tests.dedup.test_replicas import CFG, event


def test_a_file_waiting_for_its_locks_names_the_idle_holder_and_waits_on(
    migrated_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    loaded = load_file(
        json.dumps({"events": [event("n1", "Nordheim", "Zunftball")]}).encode(), "x_1.json"
    ).events
    entries = prepare_events(loaded, CFG).entries
    region = min(
        k for k, exclusive in wanted(entries, CFG.blocking).items() if k[0] == REGION_CLASS
    )
    got: list[tuple[Any, FileLocks, str]] = []
    failed: list[BaseException] = []
    caplog.set_level(logging.WARNING, logger="eventdedup.db.locks")

    with migrated_engine.connect() as holder, migrated_engine.connect() as conn:
        holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        holder.execute(
            sa.text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": region[0], "o": region[1]}
        )
        # ... and now it sits idle in its transaction

        def file() -> None:
            try:
                found, locks = lock_file(
                    conn,
                    entries,
                    CFG.blocking,
                    lambda: "looked",
                    lambda _: ((), ()),
                    report_after=0.2,
                )
                timeout = conn.execute(sa.text("SHOW lock_timeout")).scalar_one()
                got.append((found, locks, timeout))
            except BaseException as exc:  # reported in the test's thread
                failed.append(exc)

        thread = threading.Thread(target=file)
        thread.start()
        waits = wait_until(
            lambda: [r for r in caplog.records if "has waited" in r.getMessage()][1:],
            60,
            "two reports of the file's wait",
        )
        assert thread.is_alive()  # still waiting, not failed
        holder.commit()
        thread.join(60)
        conn.rollback()
    assert not failed, failed
    assert [(found, timeout) for found, _, timeout in got] == [("looked", "0")]
    assert got[0][1].regions >= 1
    message = waits[0].getMessage()
    assert f"pid {holder_pid} " in message and "idle in transaction" in message
    assert "pg_advisory_xact_lock" in message  # its last query
