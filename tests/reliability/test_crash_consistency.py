"""``kill -9`` at random moments while the daemon works: nothing lost, nothing done twice.

The daemon runs as a real process on the dev corpus. Files are dropped one
after another (some as copies under another name, one broken, one with a
quarantined event, and a few large synthetic ones so that there is work in
progress during most kills) while a seeded RNG kills the process with
``SIGKILL`` at random moments and restarts it. After a final uninterrupted run has drained
the inbox, the end state must be exactly what one uninterrupted run produces:
every file archived or dead-lettered exactly once, one ``file_ingestions``
row per file, no orphan rows, a gap-free feed whose messages describe
committed data, and the same clusters as the batch reference.
"""

from __future__ import annotations

import collections
import json
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
import sqlalchemy as sa

from eventdedup.export import export_clusters
from eventdedup.ingest.files import is_candidate_name
from eventdedup.ingest.loader import load_file
from eventdedup.matching import dedupe_batch, load_matching_config
from tests._support.db import rows, scalar
from tests._support.wait import wait_until
from tests.reliability._daemon import (
    DaemonProcess,
    Zygote,
    drop_bytes,
    engine_for,
    feed_messages,
    make_event,
    make_file,
)

KILLS = int(os.environ.get("RELIABILITY_KILLS", "20"))
BULK_FILES, BULK_EVENTS = 3, 2500


@attrs.frozen
class Drop:
    name: str
    data: bytes
    kind: str  # original | copy | broken | partial | bulk


def plan_drops(corpus_files: list[Path], rng: random.Random) -> list[Drop]:
    drops = [Drop(p.name, p.read_bytes(), "original") for p in corpus_files]
    for source in rng.sample(corpus_files, 3):  # same bytes, another name: a duplicate
        drops.append(
            Drop(source.name.removesuffix(".json") + "_copy.json", source.read_bytes(), "copy")
        )
    broken = corpus_files[0].read_bytes()[:20_000]  # cut off mid-file: truncated JSON
    drops.append(Drop("rks_broken_01.03.2026.json", broken, "broken"))
    partial = make_file(
        [make_event("partial", i) for i in range(3)]
        + [make_event("partial", 3, event_dates=[{"date": "2026-02-30"}])]
    )
    drops.append(Drop("ets_partial_01.03.2026.json", json.dumps(partial).encode(), "partial"))
    for b in range(BULK_FILES):  # seconds of work each: kills land mid-file more often
        bulk = make_file(
            [
                {"id": f"bulk{b}-{i}", "title": f"Eintrag {b}/{i}", "source_type": "terminliste"}
                for i in range(BULK_EVENTS)
            ]
        )
        drops.append(Drop(f"rkt_bulk{b}_01.03.2026.json", json.dumps(bulk).encode(), "bulk"))
    rng.shuffle(drops)
    return drops


def file_transaction_open(engine: sa.Engine) -> bool:
    """Whether a daemon transaction holds a file's advisory lock (i.e. a file is mid-commit)."""
    return bool(
        scalar(
            engine,
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
            "AND a.datname = current_database() "
            "AND a.application_name = 'eventdedup'",
        )
    )


def batch_reference(drops: list[Drop]) -> set[frozenset[str]]:
    """Clusters of one uninterrupted batch run over every accepted event."""
    events = []
    for drop in drops:
        if drop.kind in ("original", "partial", "bulk"):
            events.extend(load_file(drop.data, drop.name).events)
    result = dedupe_batch(events, load_matching_config(None))
    return {frozenset(c) for c in result.clusters}


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing_and_does_nothing_twice(
    tmp_path: Path,
    database_url: str,
    corpus_files: list[Path],
    zygote: Zygote,
    seed: int,
    figures: dict[str, Any],
) -> None:
    rng = random.Random(seed)
    drops = plan_drops(corpus_files, rng)
    engine = engine_for(database_url)
    daemon = DaemonProcess(tmp_path, database_url, zygote=zygote)
    gaps = [rng.uniform(0.3, 2.5) for _ in drops]  # spread over most of the kills
    waits = [rng.uniform(0.3, 3.0) for _ in range(KILLS)]

    def dropper() -> None:  # one file after another, whether the daemon is up or not
        for drop, gap in zip(drops, gaps, strict=True):
            time.sleep(gap)
            drop_bytes(daemon.inbox, drop.name, drop.data)

    mid_transaction = 0
    started = time.monotonic()
    try:
        daemon.start()
        daemon.wait_health(timeout=120)  # the first start migrates the fresh database
        thread = threading.Thread(target=dropper, daemon=True)
        thread.start()
        for wait in waits:
            time.sleep(wait)
            assert daemon.running(), f"daemon died by itself:\n{daemon.log()[-3000:]}"
            mid_transaction += file_transaction_open(engine)
            daemon.kill()
            daemon.start()
        thread.join()

        # The final, uninterrupted run drains the inbox.
        daemon.wait_health(timeout=60)
        expected = {d.name for d in drops}

        def drained() -> bool:
            pending = {n for n in os.listdir(daemon.inbox) if is_candidate_name(n)}
            placed = set(os.listdir(daemon.archive)) | set(os.listdir(daemon.dead_letters))
            return not pending and expected <= placed

        wait_until(drained, 240, "the inbox to drain", interval=0.25)
        daemon.terminate()
        assert daemon.wait(60) == 0, daemon.log()[-3000:]
    finally:
        daemon.close()
    duration = time.monotonic() - started

    # ---- files: each exactly once in the archive or the dead letters, nothing left behind
    archived = sorted(os.listdir(daemon.archive))
    dead = sorted(os.listdir(daemon.dead_letters))
    good = sorted(d.name for d in drops if d.kind != "broken")
    assert [n for n in archived if not n.startswith(".")] == good
    partial = next(d for d in drops if d.kind == "partial").name.removesuffix(".json")
    assert [n for n in dead if not n.startswith(".")] == sorted(
        [
            "rks_broken_01.03.2026.json",
            "rks_broken_01.03.2026.json.error.json",
            f"{partial}.rejected.json",
            f"{partial}.rejected.json.error.json",
        ]
    )
    for d in drops:
        where = daemon.dead_letters if d.kind == "broken" else daemon.archive
        assert (where / d.name).read_bytes() == d.data, f"{d.name} changed on its way"
    rejected = json.loads((daemon.dead_letters / f"{partial}.rejected.json").read_text())
    assert [e["id"] for e in rejected["events"]] == ["rel-partial-3"]

    # ---- database: one row per file, complete, no orphans
    files = rows(
        engine,
        "SELECT id, filename, file_hash, state, events_accepted, "
        "events_rejected FROM file_ingestions ORDER BY id",
    )
    completed = [f for f in files if f.state == "completed"]
    failed = [f for f in files if f.state == "failed"]
    assert [f.filename for f in failed] == ["rks_broken_01.03.2026.json"], failed
    distinct = {d.data for d in drops if d.kind in ("original", "partial", "bulk")}
    assert len(completed) == len(distinct), "one completed row per distinct content"
    by_name = {d.name: d for d in drops}
    for f in completed:
        drop = by_name[f.filename]
        loaded = load_file(drop.data, drop.name)
        assert f.events_accepted == len(loaded.events)
        assert f.events_rejected == len(loaded.rejected)
        assert (
            scalar(engine, "SELECT count(*) FROM source_events WHERE file_id = :i", i=f.id)
            == f.events_accepted
        ), f"half-written file record {f.filename}"
    total = sum(f.events_accepted for f in completed)
    assert scalar(engine, "SELECT count(*) FROM source_events") == total
    orphans = {
        "events without a canonical": "SELECT count(*) FROM source_events e LEFT JOIN "
        "canonical_events c ON c.id = e.canonical_id WHERE c.id IS NULL",
        "canonicals with a wrong source_count": "SELECT count(*) FROM canonical_events c "
        "WHERE source_count <> (SELECT count(*) FROM source_events e WHERE e.canonical_id = c.id)",
        "empty canonicals": "SELECT count(*) FROM canonical_events c WHERE NOT EXISTS "
        "(SELECT 1 FROM source_events e WHERE e.canonical_id = c.id)",
        "blocking keys of no event": "SELECT count(*) FROM event_blocking_keys k WHERE NOT "
        "EXISTS (SELECT 1 FROM source_events e WHERE e.id = k.event_id)",
        "decisions about no event": "SELECT count(*) FROM match_decisions d WHERE NOT EXISTS "
        "(SELECT 1 FROM source_events e WHERE e.id = d.a_id) OR NOT EXISTS "
        "(SELECT 1 FROM source_events e WHERE e.id = d.b_id)",
        "events of a file that is not completed": "SELECT count(*) FROM source_events e JOIN "
        "file_ingestions f ON f.id = e.file_id WHERE f.state <> 'completed'",
        "events without a normalized record": "SELECT count(*) FROM source_events "
        "WHERE record IS NULL OR component_id IS NULL",
    }
    for what, query in orphans.items():
        assert scalar(engine, query) == 0, what

    # ---- feed: gap-free, and every message describes committed data
    messages = feed_messages(engine)
    assert [m.seq for m in messages] == list(range(1, len(messages) + 1))
    by_type = collections.defaultdict(list)
    for m in messages:
        by_type[m.type].append(m.data)
    rows_by_id = {f.id: f for f in files}
    processed = collections.Counter(m["file_id"] for m in by_type["file.processed"])
    assert processed == collections.Counter(f.id for f in completed), "file.processed once each"
    for m in by_type["file.processed"]:
        row = rows_by_id[m["file_id"]]
        assert (m["file"], m["hash"], m["events_accepted"]) == (
            row.filename,
            row.file_hash,
            row.events_accepted,
        )
    # Notices are at-least-once: a crash between a commit and the move repeats one, with
    # the same file_id (test_crash_points.py); the state they describe exists once.
    assert {m["file_id"] for m in by_type["file.failed"]} == {failed[0].id}
    copies = {d.name for d in drops if d.kind == "copy"}
    originals = {by_name[n].data: n for n in by_name if by_name[n].kind == "original"}
    duplicates = collections.Counter(m["file"] for m in by_type["file.duplicate"])
    # Whichever of a pair was processed second is the duplicate; each pair announces one.
    assert sum(duplicates.values()) >= len(copies)
    for name in duplicates:
        twin = by_name[name]
        assert name in copies or name == originals[twin.data]
    for m in by_type["file.duplicate"]:
        assert rows_by_id[m["file_id"]].file_hash == m["hash"]
    repeats = sum(duplicates.values()) - len(copies) + len(by_type["file.failed"]) - 1

    # ---- the same clusters as one uninterrupted run
    with engine.connect() as conn:
        clusters = {frozenset(c) for c in export_clusters(conn)["clusters"]}
    reference = batch_reference(drops)
    assert clusters == reference, (
        f"{len(clusters ^ reference)} clusters differ from the uninterrupted reference"
    )
    engine.dispose()

    figures["crash.kills_survived"] = KILLS
    figures["crash.kills_with_a_file_transaction_open"] = mid_transaction
    figures["crash.files_dropped"] = len(drops)
    figures["crash.files_lost"] = 0
    figures["crash.files_processed_twice"] = 0
    figures["crash.notice_repeats"] = repeats
    figures["crash.events"] = total
    figures["crash.clusters"] = len(clusters)
    figures["crash.feed_messages"] = len(messages)
    figures["crash.seconds"] = round(duration, 1)
