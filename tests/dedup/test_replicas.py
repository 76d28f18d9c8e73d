"""Replicas on one database: files of different places match at once, same place in turn.

Each replica is a ``FileProcessor`` with its own ``DbDeduplicator`` in a thread
of its own, on one real PostgreSQL.  A replica can pause right after matching,
while it still holds its locks (``Replica.pause``), so what the other replica
can or cannot do meanwhile is observed directly, not inferred from timings.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.review import ReviewTx, run_review
from eventdedup.db.dedup import DbDeduplicator, Messages, prepare_events
from eventdedup.db.locks import COMPONENT_CLASS, MATCH_LOCK, REGION_CLASS, TITLE_CLASS, wanted
from eventdedup.db.migrate import upgrade_head
from eventdedup.export import export_clusters
from eventdedup.ingest.loader import load_file
from eventdedup.matching import MatchingConfig, load_matching_config
from eventdedup.matching.config import deep_merge
from eventdedup.model import SourceEvent
from eventdedup.pipeline import FileOutcome, FileProcessor
from eventdedup.synth.regions import interleaved, regions_overrides
from tests._support.wait import wait_until
from tests.conftest import scratch_database

CFG = load_matching_config(None)

#: towns far enough apart to share no region (the region box is 47.5–48.5 N, 7.3–8.5 E)
TOWNS = {
    "Nordheim": (48.35, 7.45),
    "Suedweiler": (47.62, 8.35),
    "Ostbach": (48.30, 8.30),
    "Westhofen": (47.65, 7.40),
    "Mittelau": (48.00, 7.90),
}


class Replica(DbDeduplicator):
    """Records when it held its locks; ``pause`` runs after matching, locks still held."""

    def __init__(self, cfg: MatchingConfig, pause: Callable[[Replica], None] | None = None):
        super().__init__(cfg)
        self.pause = pause
        #: per file: (locks granted, pause over: still holding them)
        self.held: list[tuple[float, float]] = []
        self.restarts: list[int] = []

    def apply(
        self,
        conn: Connection,
        events: Sequence[SourceEvent],
        timings: dict[str, float] | None = None,
        *,
        prepared: Any = None,
        insert: Any = None,
    ) -> Messages:
        messages = super().apply(conn, events, timings, prepared=prepared, insert=insert)
        assert self.locks is not None
        if self.pause is not None:
            self.pause(self)
        self.held.append((self.locks.acquired_at, time.monotonic()))
        self.restarts.append(self.locks.restarts)
        return messages


def event(eid: str, town: str, title: str, *, day: str = "2026-05-09") -> dict[str, Any]:
    lat, lon = TOWNS[town]
    return {
        "id": eid,
        "title": title,
        "short_description": f"{title} in {town}",
        "event_dates": [{"date": day, "start_time": "19:00"}],
        "location": {
            "name": f"Festhalle {town}",
            "city": town,
            "geo": {"latitude": lat, "longitude": lon, "confidence": 0.95},
        },
        "source_type": "terminliste",
        "categories": ["fest"],
    }


def write(folder: Path, name: str, events: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps({"events": events, "rejected": [], "metadata": {}}))
    return path


def processor(engine: sa.Engine, root: Path, dedup: DbDeduplicator) -> FileProcessor:
    return FileProcessor(
        engine=engine,
        archive_dir=root / "archive",
        dead_letter_dir=root / "dead",
        deduplicator=dedup,
    )


def run_both(
    engine: sa.Engine, tmp_path: Path, jobs: Sequence[tuple[Replica, Path]]
) -> list[FileOutcome]:
    """Each (replica, file) in a thread of its own, all at once."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [
            pool.submit(processor(engine, tmp_path / f"r{i}", r).process, path)
            for i, (r, path) in enumerate(jobs)
        ]
        return [f.result(timeout=120) for f in futures]


def clusters(engine: sa.Engine) -> set[frozenset[str]]:
    with engine.connect() as conn:
        return {frozenset(c) for c in export_clusters(conn)["clusters"]}


def waiting(engine: sa.Engine, classid: int) -> int:
    """Sessions waiting for an advisory lock of this class (two-int4 keys)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND objsubid = 2 AND classid = CAST(:c AS oid)"
                ),
                {"c": classid},
            ).scalar_one()
        )


def first_waits_for(engine: sa.Engine, classid: int) -> Callable[[Replica], None]:
    """A pause: the first replica to get here holds its locks until another waits for one."""
    first = threading.Lock()

    def pause(replica: Replica) -> None:
        if first.acquire(blocking=False):
            wait_until(lambda: waiting(engine, classid), 60, "the other replica to wait")

    return pause


# -- the lock rules ----------------------------------------------------------------------------


def _locks(events: list[dict[str, Any]], cfg: MatchingConfig = CFG) -> dict[tuple[int, int], bool]:
    loaded = load_file(json.dumps({"events": events}).encode(), "x_1.json").events
    return wanted(prepare_events(loaded, cfg).entries, cfg.blocking)


def _conflict(a: dict[tuple[int, int], bool], b: dict[tuple[int, int], bool]) -> bool:
    return any(a[k] or b[k] for k in a.keys() & b.keys())


def test_events_of_one_place_share_a_lock_and_far_apart_places_do_not() -> None:
    nord = _locks([event("a", "Nordheim", "Kastanienfest am Dorfplatz")])
    nord_again = _locks([event("b", "Nordheim", "Weinprobe im Gewölbekeller")])
    sued = _locks([event("c", "Suedweiler", "Kastanienfest am Dorfplatz")])
    assert _conflict(nord, nord_again)
    # the same title on the same day, far apart: shared title locks only
    assert not _conflict(nord, sued)
    assert {k for k in nord.keys() & sued.keys()} and all(
        k[0] == TITLE_CLASS and not nord[k] for k in nord.keys() & sued.keys()
    )


def test_a_listing_without_a_place_excludes_files_sharing_a_title_word() -> None:
    placeless = event("p", "Nordheim", "Kastanienfest am Dorfplatz")
    placeless["location"] = {"name": None, "city": None}
    mine = _locks([placeless])
    assert mine and all(k[0] == TITLE_CLASS and exclusive for k, exclusive in mine.items())
    assert _conflict(mine, _locks([event("c", "Suedweiler", "Kastanienfest im Park")]))
    assert not _conflict(mine, _locks([event("d", "Suedweiler", "Weinprobe im Gewölbekeller")]))


def test_listings_a_few_km_apart_share_a_region_even_without_a_common_key() -> None:
    # ~3.5 km apart, in different towns: no town key, no geo cell in common
    a = event("a", "Mittelau", "Sommerkonzert")
    b = event("b", "Mittelau", "Sommerkonzert")
    b["location"] = {
        "name": "Halle",
        "city": "Nachbarort",
        "geo": {"latitude": 48.02, "longitude": 7.935, "confidence": 0.95},
    }
    locks_a, locks_b = _locks([a]), _locks([b])
    assert any(k[0] == REGION_CLASS and locks_a[k] for k in locks_a.keys() & locks_b.keys())


def test_events_sharing_a_town_or_geo_key_always_share_an_exclusive_lock() -> None:
    """Over a generated corpus: every pair with a common town or geo-cell key conflicts."""
    files = interleaved(2, 1200)
    by_prefix: dict[str, list[dict[tuple[int, int], bool]]] = {}
    for f in files[:4]:
        loaded = load_file(f.to_bytes(), f.name).events
        entries = prepare_events(loaded, CFG).entries
        for i, e in entries.items():
            locks = wanted({i: e}, CFG.blocking)
            for prefix in e:
                if prefix.startswith(("dc|", "dg|")):
                    by_prefix.setdefault(prefix, []).append(locks)
    shared = [xs for xs in by_prefix.values() if len(xs) > 1]
    assert len(shared) > 100
    for xs in shared:
        for a, b in itertools.combinations(xs[:5], 2):
            assert _conflict(a, b)


# -- two replicas on one database --------------------------------------------------------------


def test_files_of_different_regions_hold_their_locks_at_the_same_time(
    migrated_engine: sa.Engine, tmp_path: Path
) -> None:
    met: list[bool] = []
    barrier = threading.Barrier(2)

    def meet(replica: Replica) -> None:
        try:
            barrier.wait(timeout=60)
            met.append(True)
        except threading.BrokenBarrierError:
            met.append(False)

    a, b = Replica(CFG, meet), Replica(CFG, meet)
    files = tmp_path / "in"
    outcomes = run_both(
        migrated_engine,
        tmp_path,
        [
            (
                a,
                write(
                    files,
                    "nord_1.json",
                    [event(f"n{i}", "Nordheim", "Zunftball") for i in range(3)],
                ),
            ),
            (
                b,
                write(
                    files,
                    "sued_1.json",
                    [event(f"s{i}", "Suedweiler", "Zunftball") for i in range(3)],
                ),
            ),
        ],
    )
    assert [o.outcome for o in outcomes] == ["processed", "processed"]
    # each replica reached its pause while the other was paused too, both holding their locks
    assert met == [True, True]
    (a_from, a_to), (b_from, b_to) = a.held[0], b.held[0]
    assert a_from < b_to and b_from < a_to


def test_files_of_one_region_are_serialised(migrated_engine: sa.Engine, tmp_path: Path) -> None:
    pause = first_waits_for(migrated_engine, REGION_CLASS)
    a, b = Replica(CFG, pause), Replica(CFG, pause)
    files = tmp_path / "in"
    outcomes = run_both(
        migrated_engine,
        tmp_path,
        [
            (a, write(files, "nord_1.json", [event("n1", "Nordheim", "Zunftball")])),
            (b, write(files, "nord_2.json", [event("n2", "Nordheim", "Zunftball")])),
        ],
    )
    assert [o.outcome for o in outcomes] == ["processed", "processed"]
    first, second = sorted([a.held[0], b.held[0]])
    # the second got its locks only after the first had stopped holding them
    assert second[0] > first[1]
    assert clusters(migrated_engine) == {frozenset({"n1", "n2"})}


def _must_link(engine: sa.Engine, x: str, y: str) -> None:
    """One component out of two events (an operator's must-link), by the admin path."""

    def body(tx: ReviewTx) -> dict[str, Any]:
        tx.constraint(x, y, "must_link")
        tx.recluster([tx.merge_components(tx.components_of([x, y]))])
        return {}

    run_review(
        engine,
        ConfigSource(CFG, "test"),
        action="test.must_link",
        operator="test",
        replica="test",
        params={},
        body=body,
    )


def test_a_component_reached_from_two_regions_is_taken_in_turn_without_deadlock(
    migrated_engine: sa.Engine, tmp_path: Path
) -> None:
    files = tmp_path / "in"
    seed = processor(migrated_engine, tmp_path / "seed", DbDeduplicator(CFG))
    for name, e in [
        ("o_1.json", event("ost", "Ostbach", "Laternenumzug")),
        ("w_1.json", event("west", "Westhofen", "Sternwanderung")),
    ]:
        assert seed.process(write(files, name, [e])).outcome == "processed"
    _must_link(migrated_engine, "ost", "west")
    with migrated_engine.connect() as conn:
        components = conn.execute(
            sa.text("SELECT DISTINCT component_id FROM source_events WHERE id IN ('ost', 'west')")
        ).all()
    assert len(components) == 1

    # regions disjoint (Ostbach + Nordheim vs Westhofen + Suedweiler, in opposite orders),
    # both reach the component of "ost" and "west"
    pause = first_waits_for(migrated_engine, COMPONENT_CLASS)
    a, b = Replica(CFG, pause), Replica(CFG, pause)
    outcomes = run_both(
        migrated_engine,
        tmp_path,
        [
            (
                a,
                write(
                    files,
                    "a_1.json",
                    [event("a1", "Ostbach", "Laternenumzug"), event("a2", "Nordheim", "Markt")],
                ),
            ),
            (
                b,
                write(
                    files,
                    "b_1.json",
                    [
                        event("b1", "Suedweiler", "Markt"),
                        event("b2", "Westhofen", "Sternwanderung"),
                    ],
                ),
            ),
        ],
    )
    assert [o.outcome for o in outcomes] == ["processed", "processed"]
    (first, _), (second, second_restarts) = sorted(
        [(a.held[0], a.restarts[0]), (b.held[0], b.restarts[0])]
    )
    assert second_restarts >= 1  # found the component busy, let go, waited for it in order
    assert second[0] > first[1]
    with migrated_engine.connect() as conn:
        ids = conn.execute(
            sa.text(
                "SELECT id FROM source_events WHERE component_id = "
                "(SELECT component_id FROM source_events WHERE id = 'ost') ORDER BY id"
            )
        ).scalars()
        assert {"a1", "b2", "ost", "west"} <= set(ids)


def _one_replica(
    pg_admin_url: str, paths: Sequence[Path], cfg: MatchingConfig, root: Path
) -> set[frozenset[str]]:
    from eventdedup.db.engine import create_engine

    with scratch_database(pg_admin_url) as url:
        engine = create_engine(url)
        try:
            upgrade_head(engine)
            single = processor(engine, root, DbDeduplicator(cfg))
            for path in paths:
                assert single.process(path).outcome == "processed"
            return clusters(engine)
        finally:
            engine.dispose()


def _two_replicas(
    engine: sa.Engine, paths: Sequence[Path], cfg: MatchingConfig, root: Path
) -> list[Replica]:
    """Two replicas taking files from one queue, as from a shared inbox."""
    todo: queue.Queue[Path] = queue.Queue()
    for p in paths:
        todo.put(p)
    replicas = [Replica(cfg), Replica(cfg)]

    def work(i: int) -> list[str]:
        files = processor(engine, root / f"r{i}", replicas[i])
        done = []
        while True:
            try:
                path = todo.get_nowait()
            except queue.Empty:
                return done
            done.append(files.process(path).outcome)

    with ThreadPoolExecutor(2) as pool:
        outcomes = [o for f in [pool.submit(work, 0), pool.submit(work, 1)] for o in f.result(300)]
    assert outcomes == ["processed"] * len(paths)
    return replicas


def _copies(paths: Sequence[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    out = []
    for p in paths:
        (folder / p.name).write_bytes(p.read_bytes())
        out.append(folder / p.name)
    return out


def test_two_replicas_end_in_the_clusters_of_one(
    migrated_engine: sa.Engine, pg_admin_url: str, tmp_path: Path
) -> None:
    cfg = MatchingConfig.from_json(deep_merge(CFG.to_json(), regions_overrides(2)))
    generated = tmp_path / "generated"
    generated.mkdir()
    paths = []
    for f in interleaved(2, 1600):
        (generated / f.name).write_bytes(f.to_bytes())
        paths.append(generated / f.name)
    replicas = _two_replicas(
        migrated_engine, _copies(paths, tmp_path / "two"), cfg, tmp_path / "two"
    )
    assert all(r.held for r in replicas)  # both took part
    expected = _one_replica(pg_admin_url, _copies(paths, tmp_path / "one"), cfg, tmp_path / "one")
    assert clusters(migrated_engine) == expected


def test_files_touching_regions_in_opposite_orders_never_deadlock(
    migrated_engine: sa.Engine, pg_admin_url: str, tmp_path: Path
) -> None:
    towns = list(TOWNS)
    paths = []
    for n in range(8):
        # even files: the towns in one order, odd files in the other; titles repeat across
        # files so events match across files and components grow from both sides
        order = towns if n % 2 == 0 else towns[::-1]
        events = [
            event(f"f{n}-{t}", town, ["Zunftball", "Laternenumzug", "Markt"][t % 3])
            for t, town in enumerate(order)
        ]
        paths.append(write(tmp_path / "generated", f"f{n}_1.json", events))
    _two_replicas(migrated_engine, _copies(paths, tmp_path / "two"), CFG, tmp_path / "two")
    expected = _one_replica(pg_admin_url, _copies(paths, tmp_path / "one"), CFG, tmp_path / "one")
    assert clusters(migrated_engine) == expected


def test_operator_paths_wait_for_files_in_flight(
    migrated_engine: sa.Engine, tmp_path: Path
) -> None:
    seen: dict[str, bool] = {}

    def look(replica: Replica) -> None:
        with migrated_engine.connect() as conn:
            seen["exclusive"] = bool(
                conn.execute(sa.select(sa.func.pg_try_advisory_xact_lock(MATCH_LOCK))).scalar()
            )
            conn.rollback()
            seen["shared"] = bool(
                conn.execute(
                    sa.select(sa.func.pg_try_advisory_xact_lock_shared(MATCH_LOCK))
                ).scalar()
            )
            conn.rollback()

    files = processor(migrated_engine, tmp_path, Replica(CFG, look))
    path = write(tmp_path / "in", "nord_1.json", [event("n1", "Nordheim", "Zunftball")])
    assert files.process(path).outcome == "processed"
    # while a file is matched, an operator cannot take the matching lock, another file can
    assert seen == {"exclusive": False, "shared": True}
