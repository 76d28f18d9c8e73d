"""Incremental matching against what is stored: the storage side of the dedup engine.

For each file, inside the file's transaction:

1. prepare the new events (normalized record, blocking keys);
2. fetch the stored events sharing a blocking key with any new event — one
   indexed query per file, never a scan of the store;
3. score the candidate pairs and store every decision;
4. merge the match-graph *components* the new match edges connect (each event
   carries a component id: connected over match edges and must-links);
5. re-cluster the affected components with ``cluster_component`` — the same
   pure function a batch run applies to the whole graph, which is why file-by-
   file ingestion ends in the same clusters as one big batch;
6. keep canonical ids stable (``assign_canonical_ids``), re-synthesize only
   the canonicals whose membership changed, record redirects for merged ids,
   refresh the review queue of the affected components, and return the feed
   messages.

The cost depends on the file and the blocks it touches, not on the size of the
store: a file issues a fixed number of statements (bulk rows go in with
``COPY``, id lists travel as one array parameter, and each ``source_events``
row the file touches is rewritten once, with its record, component and
canonical together).  Transaction-scoped advisory locks on the regions and
components a file touches (``db/locks.py``) serialise files that could meet,
so two replicas never re-cluster the same component concurrently, and let
files of different places match at the same time.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any

import attrs
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from eventdedup.db.ahead import Ahead, RecentRecords, decision_line, new_token, score_ahead
from eventdedup.db.events import Matched, copy_json, copy_lines, copy_text
from eventdedup.db.events import text_array as _text_array
from eventdedup.db.locks import MATCH_LOCK, FileLocks, lock_file
from eventdedup.db.tables import (
    review_items,
)
from eventdedup.matching import (
    Canonical,
    EventRecord,
    MatchingConfig,
    PairScore,
    assign_canonical_ids,
    blocking_keys,
    cluster_component,
    prepare_event,
    score_pair,
    synthesize,
)
from eventdedup.matching.decision import AMBIGUOUS, MATCH
from eventdedup.matching.pairmodel import shipped_model
from eventdedup.matching.review import MERGE, QueueItem, build_queue
from eventdedup.model import Listing, SourceEvent

Messages = list[tuple[str, Mapping[str, Any]]]


@attrs.define
class _Member:
    record: EventRecord
    canonical_id: int | None
    component_id: int | None = None


@attrs.define
class _NewEvents:
    """What ``apply`` knows in memory and has not written to ``source_events`` yet."""

    records: dict[str, EventRecord]
    record_json: dict[str, str]
    # the fresh component id given to each new event
    new_component: dict[str, int]
    # every component the file touched -> the component it belongs to after the merges
    component_of: dict[int, int]
    # stored records already parsed by the candidate query
    known: dict[str, _Member]
    # inserts the new events' rows with their record, component and canonical (else: updated)
    insert: Callable[[Matched], object] | None = None
    # the decisions just made: every decision a new event has
    scores: Sequence[PairScore] = ()


@attrs.define(eq=False)
class Matching:
    """A batch's events between :meth:`DbDeduplicator.begin` and :meth:`~DbDeduplicator.settle`:
    their records and index rows, and what :meth:`~DbDeduplicator.look` found ahead."""

    cfg: MatchingConfig
    events: Sequence[Listing]
    #: event id -> record, in the events' order
    records: dict[str, EventRecord]
    #: event id -> the token of the file its record was prepared with (``db/ahead.py``)
    tokens: dict[str, str | None]
    record_json: dict[str, str]
    entries: dict[str, dict[str, int]]
    ahead: Mapping[tuple[str, str], Ahead]
    #: whether ``cfg`` was read under the matching lock, in the transaction that settles
    locked: bool = False
    found: _Found | None = None
    #: whether :meth:`~DbDeduplicator.settle` used what was found ahead
    looked_ahead: bool = False


@attrs.frozen
class _Found:
    """The stored candidates of a batch's events and the scores of its candidate pairs."""

    stored: dict[str, _Member]
    scores: list[PairScore]
    #: decision lines formatted ahead, by pair (``db/ahead.py``)
    lines: dict[tuple[str, str], str]
    #: candidate pairs, and how many of them were scored ahead
    scored: tuple[int, int]


class _Laps:
    """Adds the milliseconds since the previous lap to ``sink[step]`` (no-op without a sink)."""

    __slots__ = ("sink", "t")

    def __init__(self, sink: dict[str, float] | None) -> None:
        self.sink = sink
        self.t = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        if self.sink is not None:
            self.sink[step] = self.sink.get(step, 0.0) + (now - self.t) * 1000
        self.t = now

    def restart(self) -> None:
        """Start the next lap now, recording nothing (the time was accounted for elsewhere)."""
        self.t = time.perf_counter()


class RecordCache:
    """Parsed records of stored events, least recently used dropped first.

    A stored record never changes (an event id is inserted once, with its
    record, and never updated), so a record read back from the database stays
    valid.  Only records of *committed* events are ever added: those a file
    reads that it did not write itself, and a file's own once its transaction
    has committed (:meth:`DbDeduplicator.committed`).  Bounded, so memory does
    not grow with the number of files processed.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        # event id -> (record, token of the prepared file it came from, or None: read back)
        self._items: OrderedDict[str, tuple[EventRecord, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, event_id: str) -> EventRecord | None:
        entry = self.entry(event_id)
        return entry[0] if entry is not None else None

    def entry(self, event_id: str) -> tuple[EventRecord, str | None] | None:
        """The record and the token of the prepared file it came from (``db/ahead.py``)."""
        with self._lock:
            entry = self._items.get(event_id)
            if entry is not None:
                self._items.move_to_end(event_id)
            return entry

    def put(self, event_id: str, record: EventRecord, token: str | None = None) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._items[event_id] = (record, token)
            self._items.move_to_end(event_id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@attrs.frozen
class PreparedEvents:
    """A file's events made ready for matching: records, index rows, stored JSON.

    Pure work that depends only on the events and the matching configuration, so
    it can be done ahead, in another process, while the previous file is still
    in the database (the processor's parse stage does).  ``cfg`` says what it was
    prepared with: if the configuration changed meanwhile, it is done again.
    """

    cfg: MatchingConfig
    records: dict[str, EventRecord]
    entries: dict[str, dict[str, int]]
    record_json: dict[str, str]
    #: event id -> the token of the file its record was prepared with (``db/ahead.py``)
    tokens: dict[str, str] = attrs.field(factory=dict)
    #: pairs scored ahead, in a parse worker (``db/ahead.py``)
    ahead: dict[tuple[str, str], Ahead] = attrs.field(factory=dict)

    def covers(self, events: Sequence[Listing], cfg: MatchingConfig) -> bool:
        return self.cfg == cfg and all(e.id in self.records for e in events)

    @classmethod
    def merge(cls, parts: Sequence[PreparedEvents]) -> PreparedEvents | None:
        """Several files' preparations as one (a batch); None unless all used one config.

        An id in several files keeps the first file's record: that is the event a
        batch accepts (a later file's copy is skipped, or rejected if it differs).
        """
        if not parts or any(p.cfg != parts[0].cfg for p in parts):
            return None
        records: dict[str, EventRecord] = {}
        entries: dict[str, dict[str, int]] = {}
        record_json: dict[str, str] = {}
        tokens: dict[str, str] = {}
        ahead: dict[tuple[str, str], Ahead] = {}
        for p in parts:
            for i, r in p.records.items():
                if i not in records:
                    records[i] = r
                    entries[i] = p.entries[i]
                    record_json[i] = p.record_json[i]
                    if i in p.tokens:
                        tokens[i] = p.tokens[i]
            for pair, scored in p.ahead.items():
                ahead.setdefault(pair, scored)
        return cls(parts[0].cfg, records, entries, record_json, tokens, ahead)


def prepare_events(
    events: Sequence[SourceEvent],
    cfg: MatchingConfig,
    recent: RecentRecords | None = None,
    score: bool = True,
) -> PreparedEvents:
    """Records, index rows and stored JSON of a file's events; with ``recent`` (a parse
    worker's), also its pairs scored ahead (``db/ahead.py``), unless ``score`` is false
    (then the records are only added to ``recent``)."""
    records = {e.id: prepare_event(e, cfg) for e in events}
    entries = {i: index_entries(blocking_keys(r, cfg)) for i, r in records.items()}
    token = new_token()
    if recent is not None and not score:
        recent.use(cfg)
        recent.add(token, records, entries)
        recent = None
    return PreparedEvents(
        cfg,
        records,
        entries,
        {i: record_json(r) for i, r in records.items()},
        dict.fromkeys(records, token),
        score_ahead(token, records, entries, recent, cfg) if recent is not None else {},
    )


@attrs.frozen
class PrepareAhead:
    """:func:`prepare_events` with a configuration (picklable): what a parse stage runs.

    A parse worker process passes its :class:`~eventdedup.db.ahead.RecentRecords`, so
    the file's pairs are scored there too.
    """

    cfg: MatchingConfig

    def __call__(
        self, events: Sequence[SourceEvent], recent: RecentRecords | None = None, score: bool = True
    ) -> PreparedEvents:
        return prepare_events(events, self.cfg, recent, score)


class DbDeduplicator:
    """Implements ``eventdedup.pipeline.Deduplicator`` on PostgreSQL.

    ``record_cache`` bounds how many parsed stored records are kept between
    files (the candidates of a file are mostly events of the same days as the
    files before it); 0 disables the cache.  10,000 is as fast as a larger cache
    on a 100k backfill and keeps full garbage collections short:
    each cached record is ~50 references the collector walks while every
    thread, the event loop's included, waits (docs/performance.md).
    """

    def __init__(self, cfg: MatchingConfig, *, record_cache: int = 10_000) -> None:
        self.cfg = cfg
        self.records = RecordCache(record_cache)
        #: the locks the last :meth:`apply` took (for tests and the benchmark)
        self.locks: FileLocks | None = None
        # the batch of the open transaction: its records are cached once it commits
        self._settled: Matching | None = None
        #: of the last :meth:`apply`: candidate pairs, and how many were scored ahead
        self.scored: tuple[int, int] = (0, 0)

    def committed(self) -> None:
        """The transaction of the last :meth:`settle` committed: cache its new records.

        The next files' candidates are mostly the events of the files just before
        them, so this saves reading and parsing them back.  Not before the commit:
        a rolled-back file may come back with other content under the same ids.
        """
        settled, self._settled = self._settled, None
        if settled is not None:
            for event_id, record in settled.records.items():
                self.records.put(event_id, record, settled.tokens[event_id])

    def preparer(self) -> PrepareAhead:
        """:func:`prepare_events` with the configuration last used (picklable)."""
        return PrepareAhead(self.cfg)

    def current_config(self, conn: Connection, *, lock: bool) -> MatchingConfig:
        """The matching configuration in force; with ``lock``, held until the transaction
        ends (a subclass that reads it from the database takes the matching lock)."""
        return self.cfg

    def apply(
        self,
        conn: Connection,
        events: Sequence[Listing],
        timings: dict[str, float] | None = None,
        *,
        prepared: PreparedEvents | Sequence[PreparedEvents] | None = None,
        insert: Callable[[Matched], object] | None = None,
    ) -> Messages:
        """Match ``events``; ``timings`` gets milliseconds per step.

        ``prepared`` is :func:`prepare_events` of (at least) these events, done
        ahead (one per file of a batch); it is used if it was made with the
        configuration in force now.  Without ``insert`` the events are in
        ``source_events`` already and their rows are updated; with it they are
        not, and ``insert`` is called once with every new event's record,
        component and canonical, to write each row once.  :meth:`begin` then
        :meth:`settle`.
        """
        if not events:
            self._settled = None
            return []
        matching = self.begin(conn, events, timings, prepared=prepared, lock=True)
        return self.settle(conn, matching, timings, insert=insert)

    def begin(
        self,
        conn: Connection,
        events: Sequence[Listing],
        timings: dict[str, float] | None = None,
        *,
        prepared: PreparedEvents | Sequence[PreparedEvents] | None = None,
        lock: bool = False,
    ) -> Matching:
        """The first half of :meth:`apply`: the events' records and index rows (made ahead
        if ``prepared`` was made with the configuration in force).  Writes nothing."""
        cfg = self.current_config(conn, lock=lock)
        if prepared is not None and not isinstance(prepared, PreparedEvents):
            prepared = PreparedEvents.merge(prepared)
        lap = _Laps(timings)
        if prepared is None or not prepared.covers(events, cfg):
            prepared = prepare_events([e.in_full() for e in events], cfg)
        new_ids = [e.id for e in events]
        matching = Matching(
            cfg,
            events,
            {i: prepared.records[i] for i in new_ids},
            # the token of every record in hand: a score made ahead is used only for these
            {i: prepared.tokens.get(i) for i in new_ids},
            {i: prepared.record_json[i] for i in new_ids},
            {i: prepared.entries[i] for i in new_ids},
            prepared.ahead,
            lock,
        )
        lap("prepare")
        return matching

    def look(
        self,
        conn: Connection,
        matching: Matching,
        timings: dict[str, float] | None = None,
        *,
        after: Matching | None = None,
    ) -> None:
        """Look for the candidates and score them ahead, before the locks: while
        ``after``, the batch before, is still settling in another transaction.

        ``after``'s events are not committed yet, so they are taken from it (their
        index rows and records), as if stored.  :meth:`settle` uses what was found
        only if, once it holds its locks, nothing else has been stored since (its
        ``fresh`` says so); otherwise it looks again.
        """
        matching.found = self._look(conn, matching, timings, after)

    def settle(
        self,
        conn: Connection,
        matching: Matching,
        timings: dict[str, float] | None = None,
        *,
        insert: Callable[[Matched], object] | None = None,
        fresh: Callable[[Connection], bool] | None = None,
    ) -> Messages:
        """The second half of :meth:`apply`: under the locks of what the events touch,
        decide, cluster, synthesize and write.

        Uses the candidates and scores of :meth:`look` if ``fresh`` says, under the
        locks, that the store has gained no events since but those of the batch it
        looked past (now committed); else (or without ``fresh``) looks under the locks.
        """
        if not matching.locked:  # begun ahead: the configuration may have changed since
            cfg = self.current_config(conn, lock=True)
            if cfg is not matching.cfg and cfg != matching.cfg:  # config.set meanwhile
                matching = self.begin(conn, matching.events, timings)
            matching.locked = True
        self._settled = matching
        cfg = matching.cfg
        new_ids = list(matching.records)
        new_set = set(new_ids)

        def look() -> _Found:
            found, matching.found = matching.found, None  # a restart looks again
            if found is not None and fresh is not None and fresh(conn):
                matching.looked_ahead = True
                return found
            return self._look(conn, matching, timings, None)

        # the regions and components this file touches (db/locks.py): looked up and scored
        # under those locks; the stored candidates' components read again once all are held
        found, self.locks = lock_file(
            conn,
            matching.entries,
            cfg.blocking,
            look,
            lambda found: _reach(found.scores, new_set),
            timings,
        )
        self.scored = found.scored
        lap = _Laps(timings)
        # components again, under the locks; the records are those in hand (never change)
        stored = _load_stored(conn, sorted(found.stored), self.records, known=found.stored)
        fresh_ids = _next_component_ids(conn, len(new_ids))
        lap("candidates")
        entries = matching.entries
        copy_lines(
            conn,
            "event_blocking_keys",
            ("key", "event_id", "slots"),
            (
                f"{copy_text(prefix)}\t{event_id}\t{slots}"
                for i in new_ids
                for event_id in (copy_text(i),)
                for prefix, slots in entries[i].items()
            ),
        )
        scores = found.scores
        _insert_decisions(conn, scores, found.lines)
        lap("decisions")

        components = dict(zip(new_ids, fresh_ids, strict=True))
        components.update(
            {i: m.component_id for i, m in stored.items() if m.component_id is not None}
        )
        merged = _merge_components(components, scores, new_ids)
        lap("components")
        pending = _NewEvents(
            dict(matching.records),
            matching.record_json,
            dict(zip(new_ids, fresh_ids, strict=True)),
            merged,
            stored,
            insert,
            scores,
        )
        # through the public method, so a subclass that post-processes it sees files too
        sources = ", ".join(sorted({e.source_code for e in matching.events}))
        return self.recluster(
            conn,
            sorted(merged),
            timings,
            pending=pending,
            settled_by=f"file ({sources})",
            cfg=cfg,
        )

    def _look(
        self,
        conn: Connection,
        matching: Matching,
        timings: dict[str, float] | None,
        after: Matching | None,
    ) -> _Found:
        """The stored candidates of the events (and ``after``'s, if given), scored."""
        lap = _Laps(timings)
        new_set = set(matching.records)
        entries = matching.entries
        tokens = dict(matching.tokens)
        stored_pairs = _stored_pairs(conn, entries, new_set)
        overlay: dict[str, _Member] = {}
        if after is not None:
            between = _pairs_between(entries, after.entries, new_set)
            overlay = {b: _Member(after.records[b], None, None) for _, b in between}
            # its events committed meanwhile are taken from it all the same
            stored_pairs = [p for p in stored_pairs if p[1] not in after.records] + between
            tokens.update({b: after.tokens[b] for b in overlay})
        stored = _load_stored(
            conn,
            sorted({s for _, s in stored_pairs if s not in overlay}),
            self.records,
            tokens,
        )
        stored.update(overlay)
        lap("candidates")
        by_id = dict(matching.records)
        for i, m in stored.items():
            by_id[i] = m.record
        pairs = _candidate_pairs(entries, stored_pairs, stored)
        lap("blocking")
        ahead = matching.ahead
        cfg = matching.cfg
        lines: dict[tuple[str, str], str] = {}
        scores: list[PairScore]
        if not ahead:  # the default: every pair scored here
            model = shipped_model()
            scores = [score_pair(by_id[a], by_id[b], cfg, model) for a, b in pairs]
        else:
            scores = []
            for a, b in pairs:
                made = ahead.get((a, b))
                if made is not None and made[0] == tokens.get(a) and made[1] == tokens.get(b):
                    scores.append(made[2])
                    lines[(a, b)] = made[3]
                else:
                    scores.append(score_pair(by_id[a], by_id[b], cfg))
        lap("scoring")
        return _Found(stored, scores, lines, (len(pairs), len(lines)))

    def recluster(
        self,
        conn: Connection,
        component_ids: Sequence[int],
        timings: dict[str, float] | None = None,
        *,
        pending: _NewEvents | None = None,
        settled_by: str = "re-clustering",
        cfg: MatchingConfig | None = None,
    ) -> Messages:
        """Re-cluster whole components (after new edges or changed constraints).

        ``pending`` is internal to :meth:`apply`: the file's new events, whose
        record, component and canonical are written here together.
        ``settled_by`` names who or what made the review items it closes moot; ``cfg``
        is the configuration to use (default: the one last in force).
        """
        cfg = self.cfg if cfg is None else cfg
        new = pending
        lap = _Laps(timings)
        members = _load_members(conn, component_ids, new, self.records)
        ids = sorted(members)
        if new is None:
            edges = _load_decisions(conn, ids)
        else:  # the new events' decisions are in hand: read only those among stored members
            edges = _load_decisions(conn, [i for i in ids if i not in new.records])
            edges += [s for s in new.scores if s.a_id in members and s.b_id in members]
            edges.sort(key=_PAIR_ORDER)
        must, cannot = _load_constraints(conn, ids)
        lap("load_components")
        result = cluster_component(
            ids, edges, must, cannot, cfg, days={i: m.record.days for i, m in members.items()}
        )
        previous = {i: m.canonical_id for i, m in members.items() if m.canonical_id is not None}
        assignment = assign_canonical_ids(result.clusters, previous)
        lap("clustering")
        old_members: dict[int, set[str]] = {}
        cid: int | str | None  # a stored id here, then an assignment's id (None: new cluster)
        for i, cid in previous.items():
            old_members.setdefault(cid, set()).add(i)
        old = _load_canonicals(conn, sorted(old_members))
        lap("load_components")

        edges_of: dict[str, list[PairScore]] = {}
        for e in edges:
            edges_of.setdefault(e.a_id, []).append(e)
        messages: Messages = []
        links: dict[str, int] = {}
        created: list[tuple[frozenset[str], Canonical]] = []
        updated: dict[int, Canonical] = {}
        for cluster, cid in assignment.assignments:
            if cid is not None and old_members.get(int(cid)) == set(cluster):
                continue  # membership unchanged: nothing to re-synthesize
            in_order = sorted(cluster)
            member_records = [members[i].record for i in in_order]
            inside = [e for i in in_order for e in edges_of.get(i, ()) if e.b_id in cluster]
            if cid is None:
                created.append((cluster, synthesize(member_records, inside, None, cfg)))
                continue
            cid = int(cid)
            before = old[cid]
            enrich = old_members.get(cid, set()) <= cluster
            canonical = synthesize(member_records, inside, before if enrich else None, cfg)
            canonical = attrs.evolve(canonical, version=before.version + 1)
            updated[cid] = canonical
            links.update(dict.fromkeys(cluster, cid))
            messages.append(
                (
                    "canonical.updated",
                    {**_summary(cid, canonical), "changed": canonical.changed_fields(before)},
                )
            )
        lap("synthesis")
        _update_canonicals(conn, updated)
        new_cids = _insert_canonicals(conn, [c for _, c in created])
        for (cluster, canonical), new_id in zip(created, new_cids, strict=True):
            links.update(dict.fromkeys(cluster, new_id))
            messages.append(("canonical.created", _summary(new_id, canonical)))
        lap("canonicals")
        _write_members(conn, members, links, new)
        lap("members")
        merged = sorted((int(lost), int(survivor)) for lost, survivor in assignment.merged.items())
        _redirect(conn, merged)
        for lost, survivor in merged:
            messages.append(("canonical.merged", {"canonical_id": survivor, "merged": lost}))
        emptied = [int(gone) for gone in assignment.emptied]
        if emptied:
            conn.execute(
                sa.text("DELETE FROM canonical_events WHERE id = ANY(CAST(:ids AS bigint[]))"),
                {"ids": _int_array(emptied)},
            )
        messages.extend(("canonical.removed", {"canonical_id": gone}) for gone in emptied)
        lap("canonicals")
        found = _review_queue(conn, ids, result.clusters, edges, must, cannot, cfg)
        messages.extend(_refresh_review(conn, ids, found.own, settled_by))
        messages.extend(
            _refresh_review(conn, found.neighbours, found.theirs, settled_by, merges_apart_from=ids)
        )
        lap("review")
        return messages


# -- parameters --------------------------------------------------------------------------------
#
# Lists travel as ONE array literal bound as text and cast in SQL (``_text_array``, ``_int_array``)
# so every statement's text is the same for every file.


def _int_array(items: Iterable[int]) -> str:
    return "{" + ",".join(str(int(i)) for i in items) + "}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def record_json(record: EventRecord) -> str:
    """A record's JSON as stored: :func:`_json`'s text, written by orjson where it writes
    the same (a quarter of the time): not a float below 1e-4 (orjson spells 1e-05 out as
    0.00001), nothing it refuses (NaN)."""
    data = record.to_json()
    for x in _FLOATS(record):
        if x is not None and x != 0 and not 1e-4 <= abs(x) < 1e16:
            return _json(data)
    try:
        return orjson.dumps(data).decode()
    except orjson.JSONEncodeError:
        return _json(data)


_FLOATS = attrgetter("geo_latitude", "geo_longitude", "geo_confidence", "confidence_score")


# -- queries -----------------------------------------------------------------------------------


def index_entries(keys: Iterable[str]) -> dict[str, int]:
    """An event's blocking keys as rows of the blocking index: ``{prefix: slot bits}``.

    A key ending in a start-time slot (``…|<0-61>``) becomes its prefix and bit
    ``slot + 1``; any other key is its own prefix with bit 0.  The encoding is
    one-to-one, so two events share a key exactly when they share a prefix
    with overlapping bits — and an event has ~5× fewer rows than keys (an
    event without a start time has a key in every slot of the day).
    """
    out: dict[str, int] = {}
    for key in keys:
        cut = key.rfind("|")
        bit = _SLOT_BITS.get(key[cut + 1 :]) if cut > 0 else None
        if bit is None:
            prefix, bit = key, 1
        else:
            prefix = key[:cut]
        out[prefix] = out.get(prefix, 0) | bit
    return out


#: The slot numbers as written in keys ("0" … "61", no leading zeros) and their bits.
_SLOT_BITS = {str(slot): 1 << (slot + 1) for slot in range(62)}


# One index-only lookup per prefix, whatever the statistics say: ``OFFSET 0`` keeps the planner
# from flattening the lateral subquery into a join it might run as a scan of the whole table.
_STORED_PAIRS = (
    "SELECT DISTINCT n.id, k.event_id "
    "FROM unnest(CAST(%(prefixes)s AS text[]), CAST(%(slots)s AS bigint[]), "
    "            CAST(%(ids)s AS text[])) AS n(prefix, slots, id) "
    "CROSS JOIN LATERAL (SELECT k.event_id FROM event_blocking_keys k "
    "                    WHERE k.key = n.prefix AND k.slots & n.slots <> 0 OFFSET 0) AS k"
)


def _stored_pairs(
    conn: Connection, entries: Mapping[str, Mapping[str, int]], new: Collection[str] = ()
) -> list[tuple[str, str]]:
    """``(new id, stored id)`` of every new and stored event sharing a blocking key.

    One indexed join in the database: the stored side's keys are those stored
    at its ingestion, never recomputed here (see ``_candidate_pairs``).  Pairs
    whose stored side is among ``new`` (a batch's own events) are left out.
    """
    prefixes: list[str] = []
    slots: list[int] = []
    ids: list[str] = []  # array elements: an id quoted once, repeated for each prefix
    for i, e in entries.items():
        prefixes.extend(e)
        slots.extend(e.values())
        ids.extend([_text_array((i,))[1:-1]] * len(e))
    if not prefixes:
        return []
    rows = _fetch(
        conn,
        _STORED_PAIRS,
        {
            "prefixes": _text_array(prefixes),
            "slots": _int_array(slots),
            "ids": "{" + ",".join(ids) + "}",
        },
    )
    if new:
        return [p for p in rows if p[1] not in new]
    return rows


def _fetch(conn: Connection, statement: str, params: Mapping[str, Any]) -> list[Any]:
    """The rows of a hot query as the driver's tuples, in the connection's transaction.

    On the batch path SQLAlchemy's per-statement work (the compiled-statement cache,
    result metadata, a ``Row`` per row) costs more Python CPU than reading the rows
    (``copy_lines`` goes to the driver the same way).  ``statement`` uses the driver's
    ``%(name)s`` parameters.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall()


# Records come as text and are parsed with orjson (``_record``): psycopg's jsonb loader is
# the standard json module, and a batch of a backlog parses thousands of stored records.
_STORED = (
    "SELECT e.id, e.canonical_id, e.component_id, "
    "       CASE WHEN v.want THEN CAST(e.record AS text) END AS record "
    "FROM unnest(CAST(%(ids)s AS text[]), CAST(%(want)s AS boolean[])) AS v(id, want) "
    "JOIN source_events e ON e.id = v.id WHERE e.record IS NOT NULL"
)


def _load_stored(
    conn: Connection,
    ids: Sequence[str],
    cache: RecordCache,
    tokens: dict[str, str | None] | None = None,
    *,
    known: Mapping[str, _Member] | None = None,
) -> dict[str, _Member]:
    """Canonical and component of stored events; records parsed only when not cached.

    ``known``: records already in hand (not fetched, whatever the cache holds: a
    batch's candidates may be more than it keeps).  ``tokens`` gets the token of each
    record returned (None: read back from the database).
    """
    if not ids:
        return {}
    entry: tuple[EventRecord, str | None] | None
    cached: dict[str, EventRecord] = {}
    for i in ids:
        if known is not None and (member := known.get(i)) is not None:
            cached[i] = member.record
        elif (entry := cache.entry(i)) is not None:
            cached[i] = entry[0]
            if tokens is not None:
                tokens[i] = entry[1]
    rows = _fetch(
        conn,
        _STORED,
        {
            "ids": _text_array(ids),
            "want": "{" + ",".join(["f" if i in cached else "t" for i in ids]) + "}",
        },
    )
    out: dict[str, _Member] = {}
    for event_id, canonical_id, component_id, text in rows:
        record = cached.get(event_id)
        if record is None:
            record = _record(text)
            cache.put(event_id, record)
            if tokens is not None:
                tokens[event_id] = None
        out[event_id] = _Member(record, canonical_id, component_id)
    return out


def _record(text: str) -> EventRecord:
    """A stored record (``source_events.record`` as text) parsed."""
    return EventRecord.from_json(orjson.loads(text))


def _candidate_pairs(
    entries: Mapping[str, Mapping[str, int]],
    stored_pairs: Iterable[tuple[str, str]],
    stored: Collection[str],
) -> list[tuple[str, str]]:
    """``candidate_pairs(new records, stored records)`` from keys already at hand.

    Two events are a candidate pair when they share a blocking key.  Among the
    new events that is computed from ``entries`` (their ``blocking_keys`` as
    :func:`index_entries`, made once); a new and a stored event pair up when
    the database found them sharing a key (``stored_pairs``), the stored
    event's keys being those stored at its ingestion — recomputing the keys of
    every stored candidate was the most expensive step of a file.  The same set
    as the pure core's ``candidate_pairs`` as long as the blocking configuration
    is the one the stored keys were made with (a test holds the two to that).
    """
    # stored pairs first: most of a batch's pairs, made in one comprehension
    pairs = {(x, y) if x < y else (y, x) for x, y in stored_pairs if y in stored}
    # (a stored event without a record is never matched: not in ``stored``)
    add = pairs.add
    for xs in _by_prefix(entries).values():
        if len(xs) < 2:
            continue
        # an event has one row per prefix, so x and y are two events
        for n, (x, sx) in enumerate(xs):
            for y, sy in xs[n + 1 :]:
                if sx & sy:
                    add((x, y) if x < y else (y, x))
    return sorted(pairs)


def _by_prefix(
    entries: Mapping[str, Mapping[str, int]], leave_out: Collection[str] = ()
) -> dict[str, list[tuple[str, int]]]:
    """``{prefix: [(event, slots), …]}`` of index rows, the events in ``leave_out`` left out."""
    by_prefix: dict[str, list[tuple[str, int]]] = {}
    for i, e in entries.items():
        if i in leave_out:
            continue
        for prefix, slots in e.items():
            xs = by_prefix.get(prefix)
            if xs is None:
                by_prefix[prefix] = [(i, slots)]
            else:
                xs.append((i, slots))
    return by_prefix


def _pairs_between(
    entries: Mapping[str, Mapping[str, int]],
    other: Mapping[str, Mapping[str, int]],
    new: Collection[str],
) -> list[tuple[str, str]]:
    """``(new id, other id)`` of the events of ``entries`` and of ``other`` sharing a
    blocking key: what the candidate lookup would find if ``other`` were stored."""
    by_prefix = _by_prefix(other, new)
    pairs: set[tuple[str, str]] = set()
    for i, e in entries.items():
        for prefix, slots in e.items():
            for j, sj in by_prefix.get(prefix, ()):
                if slots & sj:
                    pairs.add((i, j))
    return sorted(pairs)


def _reach(scores: Sequence[PairScore], new: Collection[str]) -> tuple[list[str], list[str]]:
    """The stored events a file joins (match) and ties to (ambiguous), for its locks."""
    joined: list[str] = []
    tied: list[str] = []
    for s in scores:
        if s.decision in (MATCH, AMBIGUOUS):
            into = joined if s.decision == MATCH else tied
            into.extend(x for x in (s.a_id, s.b_id) if x not in new)
    return joined, tied


def _next_component_ids(conn: Connection, n: int) -> list[int]:
    return [
        int(c)
        for c in conn.execute(
            sa.text("SELECT nextval('component_ids') FROM generate_series(1, :n)"), {"n": n}
        ).scalars()
    ]


def _insert_decisions(
    conn: Connection,
    scores: Sequence[PairScore],
    lines: Mapping[tuple[str, str], str] | None = None,
) -> None:
    """One COPY of the decisions; ``lines`` are those formatted ahead, by pair."""
    made = lines or {}
    copy_lines(
        conn,
        "match_decisions",
        ("a_id", "b_id", "decision", "combined", "score"),
        (made.get(s.key) or decision_line(s) for s in scores),
    )


def score_from_row(row: Any) -> PairScore:
    """A ``match_decisions`` row (``a_id, b_id, decision, combined, score``) as a PairScore.

    ``score`` holds the fields without a column of their own; rows of older
    databases hold all of them there, and the columns override them with the
    same values.
    """
    return _pair_score(row.a_id, row.b_id, row.decision, row.combined, row.score)


def _score(a_id: str, b_id: str, decision: str, combined: float, score: str) -> PairScore:
    """:func:`score_from_row` of a row read as the driver's tuple, ``score`` as text
    (parsed with orjson)."""
    return _pair_score(a_id, b_id, decision, combined, orjson.loads(score))


def _pair_score(
    a_id: str, b_id: str, decision: str, combined: float, s: Mapping[str, Any]
) -> PairScore:
    """The PairScore of a decision's columns and its ``score`` JSON, made from its fields in
    order (a third of the work of a dict merged and passed by keyword)."""
    get = s.get
    return PairScore(
        a_id,
        b_id,
        s["date"],
        s["geo"],
        s["title"],
        s["description"],
        combined,
        decision,
        s["reason"],
        get("tier", _TIER),
        get("probability", _PROBABILITY),
        get("model_version", _MODEL_VERSION),
    )


_TIER, _PROBABILITY, _MODEL_VERSION = (f.default for f in attrs.fields(PairScore)[-3:])


def _merge_components(
    components: Mapping[str, int], scores: Sequence[PairScore], new_ids: Sequence[str]
) -> dict[int, int]:
    """Union the components joined by new match edges: ``{component: its new component}``.

    The keys are every component the file touched; a group of joined components
    takes the smallest id among them.
    """
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in new_ids:
        find(components[i])
    for s in scores:
        if s.decision == "match":
            ra, rb = find(components[s.a_id]), find(components[s.b_id])
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return {c: find(c) for c in list(parent)}


_MEMBERS = (
    "SELECT e.id, e.canonical_id, e.component_id, "
    "       CASE WHEN k.id IS NULL THEN CAST(e.record AS text) END AS record "
    "FROM source_events e LEFT JOIN unnest(CAST(%(known)s AS text[])) AS k(id) ON k.id = e.id "
    "WHERE e.component_id = ANY(CAST(%(components)s AS bigint[])) AND e.record IS NOT NULL"
)


def _load_members(
    conn: Connection, component_ids: Sequence[int], new: _NewEvents | None, cache: RecordCache
) -> dict[str, _Member]:
    """Members of the components; records already in memory are not fetched again."""
    known = new.known if new is not None else {}
    rows = _fetch(
        conn, _MEMBERS, {"known": _text_array(known), "components": _int_array(component_ids)}
    )
    out: dict[str, _Member] = {}
    record: EventRecord | None
    for event_id, canonical_id, component_id, text in rows:
        if text is None:
            record = known[event_id].record
        elif (record := cache.get(event_id)) is None:
            record = _record(text)
            if new is None or event_id not in new.records:
                cache.put(event_id, record)
        out[event_id] = _Member(record, canonical_id, component_id)
    if new is not None:
        for i, record in new.records.items():
            out[i] = _Member(record, None, None)
    return out


# Both ends among the ids: one index lookup per id (``OFFSET 0`` keeps the planner from
# turning the lateral subquery into a join it might run as a scan of the whole table) and a
# hashed check of the other end; ``b_id = ANY(…)`` would compare every decision found with
# every id in turn (seconds for the members of a batch).
_DECISIONS = (
    "WITH ids AS MATERIALIZED (SELECT DISTINCT unnest(CAST(%(ids)s AS text[])) AS id) "
    "SELECT d.a_id, d.b_id, d.decision, d.combined, CAST(d.score AS text) FROM ids a "
    "CROSS JOIN LATERAL (SELECT * FROM match_decisions m WHERE m.a_id = a.id OFFSET 0) AS d "
    "WHERE d.b_id IN (SELECT id FROM ids) "
    "ORDER BY d.a_id, d.b_id"
)


_PAIR_ORDER = attrgetter("a_id", "b_id")


def _load_decisions(conn: Connection, ids: Sequence[str]) -> list[PairScore]:
    if not ids:
        return []
    return [_score(*r) for r in _fetch(conn, _DECISIONS, {"ids": _text_array(ids)})]


_CONSTRAINTS = sa.text(
    "SELECT a_id, b_id, kind FROM match_constraints "
    "WHERE a_id = ANY(CAST(:ids AS text[])) AND b_id = ANY(CAST(:ids AS text[]))"
)


def _load_constraints(
    conn: Connection, ids: Sequence[str]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    must: list[tuple[str, str]] = []
    cannot: list[tuple[str, str]] = []
    if not ids:
        return must, cannot
    for r in conn.execute(_CONSTRAINTS, {"ids": _text_array(ids)}):
        (must if r.kind == "must_link" else cannot).append((r.a_id, r.b_id))
    return must, cannot


def _load_canonicals(conn: Connection, ids: Sequence[int]) -> dict[int, Canonical]:
    if not ids:
        return {}
    rows = _fetch(conn, _CANONICALS, {"ids": _int_array(ids)})
    return {cid: Canonical.from_json(orjson.loads(data)) for cid, data in rows}


_CANONICALS = (
    "SELECT id, CAST(data AS text) FROM canonical_events WHERE id = ANY(CAST(%(ids)s AS bigint[]))"
)


_CANONICAL_COLUMNS = (
    "title",
    "location_city",
    "first_date",
    "last_date",
    "categories",
    "source_count",
    "match_confidence",
    "needs_review",
    "version",
    "data",
)


def _json_text(value: Any) -> str:
    """JSON for a ``jsonb`` column (PostgreSQL normalises it: orjson's spelling is as good)."""
    return orjson.dumps(value).decode()


def _optional(value: object) -> str:
    return "\\N" if value is None else str(value)


def canonical_line(cid: int, canonical: Canonical) -> str:
    """The canonical's ``COPY`` line: ``id`` and ``_CANONICAL_COLUMNS``."""
    c = canonical
    return "\t".join(
        (
            str(int(cid)),
            copy_text(c.title),
            "\\N" if c.location_city is None else copy_text(c.location_city),
            _optional(c.first_date),  # a date's str is its ISO form
            _optional(c.last_date),
            copy_json(_json_text(c.categories)),
            str(int(c.source_count)),
            "\\N" if c.match_confidence is None else repr(float(c.match_confidence)),
            "t" if c.needs_review else "f",
            str(int(c.version)),
            copy_json(_json_text(c.to_json())),
        )
    )


def _insert_canonicals(conn: Connection, canonicals: Sequence[Canonical]) -> list[int]:
    """Ids drawn from the table's sequence first, then one COPY; ids in the given order."""
    if not canonicals:
        return []
    ids = sorted(
        int(i)
        for i in conn.execute(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('canonical_events', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": len(canonicals)},
        ).scalars()
    )
    copy_lines(
        conn,
        "canonical_events",
        ("id", *_CANONICAL_COLUMNS),
        [canonical_line(cid, c) for cid, c in zip(ids, canonicals, strict=True)],
    )
    return ids


_UPDATE_CANONICALS = sa.text(
    "UPDATE canonical_events AS c SET title = v.title, location_city = v.location_city, "
    "first_date = v.first_date, last_date = v.last_date, categories = v.categories, "
    "source_count = v.source_count, match_confidence = v.match_confidence, "
    "needs_review = v.needs_review, version = v.version, data = v.data, updated_at = now() "
    "FROM json_to_recordset(CAST(:rows AS json)) AS v(id bigint, title text, "
    "location_city text, first_date date, last_date date, categories jsonb, source_count int, "
    "match_confidence float8, needs_review boolean, version int, data jsonb) "
    "WHERE c.id = v.id"
)


def _update_canonicals(conn: Connection, updates: Mapping[int, Canonical]) -> None:
    """All re-synthesized canonicals in one statement."""
    if not updates:
        return
    rows = [
        {
            "id": cid,
            "title": c.title,
            "location_city": c.location_city,
            "first_date": c.first_date,  # orjson writes a date in ISO form
            "last_date": c.last_date,
            "categories": c.categories,
            "source_count": c.source_count,
            "match_confidence": c.match_confidence,
            "needs_review": c.needs_review,
            "version": c.version,
            "data": c.to_json(),
        }
        for cid, c in sorted(updates.items())
    ]
    conn.execute(_UPDATE_CANONICALS, {"rows": _json_text(rows)})


_WRITE_MEMBERS = sa.text(
    "UPDATE source_events AS e SET record = coalesce(v.record, e.record), "
    "component_id = v.component_id, canonical_id = v.canonical_id "
    "FROM json_to_recordset(CAST(:rows AS json)) "
    "     AS v(id text, record json, component_id bigint, canonical_id bigint) "
    "WHERE e.id = v.id"
)


def _write_members(
    conn: Connection,
    members: Mapping[str, _Member],
    links: Mapping[str, int],
    new: _NewEvents | None,
) -> None:
    """Every changed member row in one statement: record (new events), component, canonical.

    Each row is rewritten once per file, and only if something in it changed; the
    new events' rows go to ``new.insert`` instead when there is one (not stored yet).
    """
    rows: list[str] = []
    inserts: dict[str, tuple[str, int, int | None]] = {}
    for i in sorted(members):
        m = members[i]
        record: str | None = None
        component = m.component_id
        if new is not None:
            if i in new.records:
                record = new.record_json[i]
                component = new.component_of[new.new_component[i]]
            elif component is not None:
                component = new.component_of.get(component, component)
        canonical = links.get(i, m.canonical_id)
        if new is not None and new.insert is not None and record is not None:
            assert component is not None
            inserts[i] = (record, component, canonical)
            continue
        if record is None and component == m.component_id and canonical == m.canonical_id:
            continue
        rows.append(
            f'{{"id":{json.dumps(i)},"record":{record or "null"},'
            f'"component_id":{_null(component)},"canonical_id":{_null(canonical)}}}'
        )
    if inserts:
        assert new is not None and new.insert is not None
        new.insert(inserts)
    if rows:
        conn.execute(_WRITE_MEMBERS, {"rows": "[" + ",".join(rows) + "]"})


def _null(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _redirect(conn: Connection, merged: Sequence[tuple[int, int]]) -> None:
    """``lost`` now resolves to ``survivor`` — also for ids that pointed at ``lost``."""
    if not merged:
        return
    params = {
        "lost": _int_array(m[0] for m in merged),
        "survivor": _int_array(m[1] for m in merged),
    }
    pairs = "unnest(CAST(:lost AS bigint[]), CAST(:survivor AS bigint[])) AS v(lost, survivor)"
    conn.execute(
        sa.text(
            f"UPDATE canonical_redirects AS r SET new_id = v.survivor FROM {pairs} "
            "WHERE r.new_id = v.lost"
        ),
        params,
    )
    conn.execute(
        sa.text(
            f"INSERT INTO canonical_redirects (old_id, new_id) SELECT lost, survivor FROM {pairs}"
        ),
        params,
    )
    conn.execute(
        sa.text("DELETE FROM canonical_events WHERE id = ANY(CAST(:lost AS bigint[]))"),
        {"lost": params["lost"]},
    )


_CROSS = sa.text(
    "SELECT a_id, b_id, decision, combined, score FROM match_decisions "
    "WHERE (a_id = ANY(CAST(:ids AS text[])) OR b_id = ANY(CAST(:ids AS text[]))) "
    "AND decision = 'ambiguous'"
)

_OUTSIDE = sa.text(
    "SELECT o.id, o.canonical_id FROM source_events o "
    "WHERE o.canonical_id IN (SELECT canonical_id FROM source_events "
    "                         WHERE id = ANY(CAST(:ids AS text[])) AND canonical_id IS NOT NULL)"
)

# The decisions of the ``inner`` listings with ``outer`` ones: one index lookup per inner id
# and side, the other end checked in a hashed set (as ``_DECISIONS``); ``b_id = ANY(:outer)``
# compared each decision found with every outer id in turn (a batch's rings hold thousands).
# The second half leaves out what the first found (``score`` is json: no UNION's comparison).
_BETWEEN = (
    "WITH i AS MATERIALIZED (SELECT DISTINCT unnest(CAST(%(inner)s AS text[])) AS id), "
    "     o AS MATERIALIZED (SELECT DISTINCT unnest(CAST(%(outer)s AS text[])) AS id) "
    "SELECT d.a_id, d.b_id, d.decision, d.combined, CAST(d.score AS text) FROM i "
    "CROSS JOIN LATERAL (SELECT * FROM match_decisions m WHERE m.a_id = i.id OFFSET 0) AS d "
    "WHERE d.b_id IN (SELECT id FROM o) "
    "UNION ALL "
    "SELECT d.a_id, d.b_id, d.decision, d.combined, CAST(d.score AS text) FROM i "
    "CROSS JOIN LATERAL (SELECT * FROM match_decisions m WHERE m.b_id = i.id OFFSET 0) AS d "
    "WHERE d.a_id IN (SELECT id FROM o) "
    "AND NOT (d.a_id IN (SELECT id FROM i) AND d.b_id IN (SELECT id FROM o)) "
    "ORDER BY 1, 2"
)

_CANNOT_BETWEEN = sa.text(
    "SELECT a_id, b_id FROM match_constraints WHERE kind = 'cannot_link' AND ("
    "   (a_id = ANY(CAST(:inner AS text[])) AND b_id = ANY(CAST(:outer AS text[]))) "
    "OR (b_id = ANY(CAST(:inner AS text[])) AND a_id = ANY(CAST(:outer AS text[]))))"
)


def _ring(conn: Connection, frontier: Sequence[str], known: set[str]) -> list[frozenset[str]]:
    """The stored clusters at the far ends of ambiguous pairs leaving ``frontier``, beyond
    ``known`` listings."""
    far = sorted(
        {
            x
            for r in conn.execute(_CROSS, {"ids": _text_array(frontier)})
            for x in (r.a_id, r.b_id)
            if x not in known
        }
    )
    found: dict[int, set[str]] = {}
    if far:
        for r in conn.execute(_OUTSIDE, {"ids": _text_array(far)}):
            if r.id not in known:
                found.setdefault(int(r.canonical_id), set()).add(r.id)
    return [frozenset(c) for _, c in sorted(found.items())]


@attrs.frozen
class _Questions:
    """What :func:`_review_queue` found: the questions about the re-clustered components, and
    the merge questions of the clusters next to them (``neighbours``' listings), whose
    *contested* flag the re-clustering may have changed."""

    own: list[QueueItem]
    neighbours: list[str]
    theirs: list[QueueItem]


def _review_queue(
    conn: Connection,
    ids: Sequence[str],
    clusters: Sequence[frozenset[str]],
    edges: Sequence[PairScore],
    must: Sequence[tuple[str, str]],
    cannot: Sequence[tuple[str, str]],
    cfg: MatchingConfig,
) -> _Questions:
    """The review questions about these components, and the merge questions next to them.

    An ambiguous pair may join a re-clustered cluster to a cluster of another
    component (ring 1).  Whether a merge question is contested depends on the
    merge candidates of both its clusters, so the questions of the re-clustered
    clusters need ring 1's neighbours (ring 2), and ring 1's own merge
    questions — contested or not by the re-clustering — need ring 2's (ring 3).
    The rings' clusters are loaded as stored, with every decision and
    cannot-link with a listing of ring 1 or 2 on one side, so each question
    sees complete evidence (``review.merge_questions``).
    """
    if not ids:
        return _Questions([], [], [])
    inner = set(ids)
    known = set(inner)
    frontier: Sequence[str] = ids
    rings: list[list[frozenset[str]]] = []
    for _ in range(3):
        ring = _ring(conn, frontier, known) if frontier else []
        rings.append(ring)
        frontier = sorted(x for c in ring for x in c)
        known.update(frontier)
    near = sorted(x for ring in rings[:2] for c in ring for x in c)
    between: list[PairScore] = []
    cannot_between: list[tuple[str, str]] = []
    if near:
        params = {"inner": _text_array(near), "outer": _text_array(sorted(known))}
        between = [_score(*r) for r in _fetch(conn, _BETWEEN, params)]
        cannot_between = [(r.a_id, r.b_id) for r in conn.execute(_CANNOT_BETWEEN, params)]
    everything = [*clusters, *(c for ring in rings for c in ring)]
    queue = build_queue(
        everything,
        list({e.key: e for e in [*edges, *between]}.values()),
        cfg,
        cannot_link=[*cannot, *cannot_between],
        must_link=must,
    )
    ring1 = {x for c in rings[0] for x in c}
    # a split question about a cluster of another component is that component's business
    own = [q for q in queue if q.a_id in inner or (q.kind == MERGE and q.b_id in inner)]
    theirs = [
        q
        for q in queue
        if q.kind == MERGE and not {q.a_id, q.b_id} & inner and (q.a_id in ring1 or q.b_id in ring1)
    ]
    return _Questions(own, sorted(ring1), theirs)


def _refresh_review(
    conn: Connection,
    ids: Sequence[str],
    items: Sequence[QueueItem],
    settled_by: str,
    *,
    merges_apart_from: Sequence[str] | None = None,
) -> Messages:
    """Bring the open review items of these events in line with the latest clustering.

    ``merges_apart_from``: only the merge items of these events that touch none
    of those listings are brought in line (the neighbours of re-clustered
    components, whose own questions are refreshed with them).

    Items still raised keep their id (updated in place), items no longer raised
    are closed as resolved — announced with who or what settled them — and new
    ones are announced.  An item an operator (or resolver) settled is not raised
    again: one dismissed, or resolved by a merge, split or keep-separate
    (``data.resolution``).  Items closed automatically carry no resolution and
    may be raised again.
    """
    apart = set(merges_apart_from or ())
    # an open item wins over a settled one with the same key (ordered last)
    existing = (
        {
            (r.kind, r.a_id, r.b_id): (r.id, r.state)
            for r in conn.execute(
                sa.text(
                    "SELECT id, kind, a_id, b_id, "
                    "       CASE WHEN state = 'resolved' THEN 'settled' ELSE state END AS state "
                    "FROM review_items "
                    "WHERE (state IN ('open', 'dismissed') "
                    "       OR (state = 'resolved' AND data ? 'resolution')) "
                    "AND (a_id = ANY(CAST(:ids AS text[])) OR b_id = ANY(CAST(:ids AS text[]))) "
                    "ORDER BY state = 'open', id"
                ),
                {"ids": _text_array(ids)},
            )
            if merges_apart_from is None
            or (r.kind == MERGE and r.a_id not in apart and r.b_id not in apart)
        }
        if ids
        else {}
    )
    current: set[tuple[str, str, str]] = set()
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for item in items:
        key = item.key
        if key in current:
            continue  # one row per question (the open items' unique index)
        current.add(key)
        values = {
            "uncertainty": round(item.doubt, 4),
            "benefit": item.benefit,
            "reason": item.reason(),
            "data": item.to_json(),
        }
        if key not in existing:
            inserts.append({"kind": item.kind, "a_id": key[1], "b_id": key[2], **values})
        elif existing[key][1] == "open":
            updates.append({"b_rid": existing[key][0], **values})
    stale = sorted(
        rid for key, (rid, state) in existing.items() if state == "open" and key not in current
    )
    # Another replica may write some of these rows too (questions next to both files):
    # rows are locked in id order, so two refreshes never wait for each other in a cycle.
    updates.sort(key=lambda u: int(u["b_rid"]))
    if updates and stale:
        conn.execute(
            _LOCK_ITEMS, {"ids": _int_array(sorted({*stale, *(u["b_rid"] for u in updates)}))}
        )
    if updates:
        conn.execute(
            review_items.update().where(review_items.c.id == sa.bindparam("b_rid")), updates
        )
    messages: Messages = []
    if stale:
        conn.execute(
            review_items.update()
            .where(review_items.c.id.in_(stale))
            .values(
                state="resolved",
                resolved_at=sa.func.now(),
                data=review_items.c.data.op("||")(
                    sa.func.jsonb_build_object("settled_by", settled_by)
                ),
            )
        )
        messages.extend(
            (
                "review.resolved",
                {
                    "review_id": rid,
                    "state": "resolved",
                    "action": "settled",
                    "settled_by": settled_by,
                    "operator": None,
                },
            )
            for rid in stale
        )
    if not inserts:
        return messages
    # Another replica may raise the same question at once (a merge question between
    # clusters next to both files): the unique index on open items makes its insert and
    # ours one row; the later one waits for the first to commit and updates that row.
    inserts.sort(key=lambda row: (row["kind"], row["a_id"], row["b_id"]))  # the same order
    rows = conn.execute(_UPSERT_OPEN, inserts).all()
    messages.extend(
        (
            "review.flagged",
            {
                "review_id": rid,
                "kind": row["kind"],
                "event_ids": row["data"]["event_ids"],
                "uncertainty": row["uncertainty"],
                "probability": row["data"]["probability"],
                "benefit": row["benefit"],
                "reason": row["reason"],
            },
        )
        for (rid, inserted), row in zip(rows, inserts, strict=True)
        if inserted
    )
    return messages


_LOCK_ITEMS = sa.text(
    "SELECT id FROM review_items WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE"
)
_excluded = pg_insert(review_items).excluded
_UPSERT_OPEN = (
    pg_insert(review_items)
    .on_conflict_do_update(
        index_elements=[review_items.c.kind, review_items.c.a_id, review_items.c.b_id],
        # a literal, not a bound parameter: a prepared statement's generic plan must still
        # infer the partial index
        index_where=sa.text("state = 'open'"),
        set_={
            "uncertainty": _excluded.uncertainty,
            "benefit": _excluded.benefit,
            "reason": _excluded.reason,
            "data": _excluded.data,
        },
    )
    # xmax is 0 on a row this statement inserted, and set on one it updated
    .returning(review_items.c.id, sa.literal_column("xmax = 0"), sort_by_parameter_order=True)
)


def _summary(cid: int, canonical: Canonical) -> dict[str, Any]:
    return {
        "canonical_id": cid,
        "title": canonical.title,
        "city": canonical.location_city,
        "first_date": canonical.first_date.isoformat() if canonical.first_date else None,
        "source_count": canonical.source_count,
        "version": canonical.version,
        "members": list(canonical.member_ids),
    }


__all__ = ["MATCH_LOCK", "DbDeduplicator", "Messages", "score_from_row"]
