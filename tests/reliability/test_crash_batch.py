"""``kill -9`` while the daemon commits a backlog in batches: nothing lost, nothing done twice.

The inbox holds a backlog when the daemon starts (the sample corpus, generated
files with duplicates across them, a broken file and one with a quarantined
event), so the processor takes the files in batches of several
(``EVENT_DEDUP_BATCH_FILES``).  The process is killed with ``SIGKILL`` while a
batch's transaction holds the claims of several files, and at seeded random
moments after that, then restarted; a final uninterrupted run drains the
inbox.  The end state must be that of one uninterrupted run: every file
archived or dead-lettered once, one ``file_ingestions`` row per file, its
events stored once, a ``file.processed`` per file, and the clusters of the
batch reference.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.export import export_clusters
from eventdedup.ingest.files import is_candidate_name
from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from eventdedup.synth.generator import generate, take
from tests._support.db import rows, scalar
from tests._support.wait import wait_until
from tests.reliability._daemon import DaemonProcess, Zygote, engine_for, make_event, make_file

KILLS = 4
BROKEN = "rks_batchbroken_01.03.2026.json"
PARTIAL = "ets_batchpartial_01.03.2026.json"


def backlog(corpus_files: list[Path]) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in corpus_files}
    files.update({f.name: f.to_bytes() for f in take(generate(5), 1600)})
    files[BROKEN] = corpus_files[0].read_bytes()[:20_000]
    partial = make_file(
        [make_event("batch", i) for i in range(3)]
        + [make_event("batch", 3, event_dates=[{"date": "2026-02-30"}])]
    )
    files[PARTIAL] = json.dumps(partial).encode()
    return files


def claims_held(engine: sa.Engine, hashes: set[str]) -> int:
    """How many of these files' claims (advisory locks on their hash) a transaction holds."""
    keys = {
        k
        for (k,) in rows(
            engine,
            "SELECT hashtextextended(h, 0) FROM unnest(CAST(:hs AS text[])) AS h",
            hs=sorted(hashes),
        )
    }
    held = 0
    for lock in rows(
        engine,
        "SELECT classid::bigint AS hi, objid::bigint AS lo FROM pg_locks "
        "WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    ):
        key = (lock.hi << 32) | lock.lo
        held += (key - (1 << 64) if key >= 1 << 63 else key) in keys
    return held


@pytest.mark.slow
def test_kill_9_during_batches_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, database_url: str, corpus_files: list[Path], zygote: Zygote, seed: int
) -> None:
    rng = random.Random(seed)
    files = backlog(corpus_files)
    hashes = {hashlib.sha256(data).hexdigest() for data in files.values()}
    engine = engine_for(database_url)
    daemon = DaemonProcess(tmp_path, database_url, zygote=zygote, EVENT_DEDUP_BATCH_FILES="6")
    for name, data in files.items():  # the backlog is there before the daemon starts
        (daemon.inbox / name).write_bytes(data)

    def pending() -> set[str]:
        return {n for n in os.listdir(daemon.inbox) if is_candidate_name(n)}

    kills_in_a_batch = 0
    try:
        for k in range(KILLS):
            daemon.start()
            if k == 0:
                daemon.wait_health(timeout=120)  # the first start migrates the fresh database
            if k % 2 == 0:  # while a batch holds the claims of several files
                in_batch = wait_until(
                    lambda: claims_held(engine, hashes) >= 2 or not pending(),
                    120,
                    "a batch in its transaction",
                    interval=0.02,
                )
                assert in_batch and pending(), "the backlog was done before a batch was caught"
                kills_in_a_batch += claims_held(engine, hashes) >= 2
            else:  # anywhere: in a batch, between the commit and the moves, between batches
                time.sleep(rng.uniform(0.5, 4.0))
            assert daemon.running(), f"daemon died by itself:\n{daemon.log()[-3000:]}"
            daemon.kill()
        daemon.start()
        daemon.wait_health(timeout=60)
        wait_until(lambda: not pending(), 240, "the inbox to drain", interval=0.25)
        wait_until(
            lambda: (
                set(files) <= set(os.listdir(daemon.archive)) | set(os.listdir(daemon.dead_letters))
            ),
            30,
            "the last moves",
        )
        daemon.terminate()
        assert daemon.wait(60) == 0, daemon.log()[-3000:]
    finally:
        daemon.close()
    assert kills_in_a_batch >= 1

    # ---- files: each once in the archive or the dead letters
    good = sorted(n for n in files if n != BROKEN)
    assert sorted(n for n in os.listdir(daemon.archive) if not n.startswith(".")) == good
    stem = PARTIAL.removesuffix(".json")
    assert sorted(n for n in os.listdir(daemon.dead_letters) if not n.startswith(".")) == sorted(
        [
            BROKEN,
            f"{BROKEN}.error.json",
            f"{stem}.rejected.json",
            f"{stem}.rejected.json.error.json",
        ]
    )
    for name, data in files.items():
        where = daemon.dead_letters if name == BROKEN else daemon.archive
        assert (where / name).read_bytes() == data, f"{name} changed on its way"

    # ---- database: one row per file, its events once, no orphans
    ingested = rows(engine, "SELECT id, filename, state, events_accepted FROM file_ingestions")
    completed = {f.filename: f for f in ingested if f.state == "completed"}
    assert sorted(completed) == good
    assert [f.filename for f in ingested if f.state == "failed"] == [BROKEN]
    events = []
    for name in good:
        loaded = load_file(files[name], name)
        events.extend(loaded.events)
        assert completed[name].events_accepted == len(loaded.events)
        assert scalar(
            engine, "SELECT count(*) FROM source_events WHERE file_id = :i", i=completed[name].id
        ) == len(loaded.events), f"half-written file {name}"
    assert scalar(engine, "SELECT count(*) FROM source_events") == len(events)
    for what, query in {
        "events without a canonical or record": "SELECT count(*) FROM source_events e LEFT JOIN "
        "canonical_events c ON c.id = e.canonical_id WHERE c.id IS NULL OR e.record IS NULL",
        "empty canonicals": "SELECT count(*) FROM canonical_events c WHERE NOT EXISTS "
        "(SELECT 1 FROM source_events e WHERE e.canonical_id = c.id)",
        "blocking keys of no event": "SELECT count(*) FROM event_blocking_keys k WHERE NOT "
        "EXISTS (SELECT 1 FROM source_events e WHERE e.id = k.event_id)",
    }.items():
        assert scalar(engine, query) == 0, what

    # ---- feed: gap-free, one file.processed per file, some of them matched in batches
    messages = rows(engine, "SELECT seq, type, data FROM outbox ORDER BY seq")
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    processed = [m.data for m in messages if m.type == "file.processed"]
    assert collections.Counter(m["file_id"] for m in processed) == collections.Counter(
        f.id for f in completed.values()
    )
    batches = collections.Counter(m.get("batch", {}).get("files", 1) for m in processed)
    print(
        f"kills with a batch in its transaction: {kills_in_a_batch}; files by batch size:", batches
    )
    assert sum(n for size, n in batches.items() if size > 1) >= 2

    # ---- the same clusters as one uninterrupted run
    with engine.connect() as conn:
        clusters = {frozenset(c) for c in export_clusters(conn)["clusters"]}
    engine.dispose()
    reference = dedupe_batch(events, load_matching_config(None))
    assert clusters == {frozenset(c) for c in reference.clusters}
