"""Processing one file, start to finish: the code path shared by the daemon and the CLI.

A file is read, validated and stored in ONE transaction together with its feed
messages; only after the commit is it moved out of the inbox.  A crash at any
point therefore leaves either nothing (the file is still in the inbox and is
processed again) or everything (the hash is recorded; the next attempt just
finishes the move).  Bad files are recorded as failed, announced, and moved to
the dead-letter folder with a sidecar that says why.

What happens after the commit is written so that a crash at any step, followed
by a restart, ends in the same state (tests/reliability/test_crash_points.py):

* quarantined events are written *before* the file is moved; a restart that
  finds the file committed but still in the inbox writes them if they are
  missing, so they are never lost (and not written twice);
* a move interrupted between its hard link and its unlink is finished, not
  repeated (no ``name.1.json`` copy of the same file);
* a failed file that was recorded but not yet dead-lettered reuses its row, so
  a file is dead-lettered and recorded once (its ``file.failed`` notice may be
  repeated, with the same ``file_id``: notices are at-least-once);
* a file is moved only if it is still the one that was read (same inode, size
  and mtime): a new version dropped over it while it was processed stays in the
  inbox and is processed next, instead of being archived unread.

This module is synchronous; the processor actor runs it in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from eventdedup.db import events as store
from eventdedup.db import outbox
from eventdedup.db.engine import DB_DOWN, DB_REFUSED, error_line
from eventdedup.db.tables import file_ingestions
from eventdedup.ingest.files import (
    ERROR_SUFFIX,
    REJECTED_SUFFIX,
    dead_letter,
    move_unique,
    read_limited,
    write_json_atomic,
    write_rejected_events,
)
from eventdedup.ingest.loader import (
    EventWarning,
    FileRejected,
    LoadedFile,
    RejectedEvent,
    json_safe,
    load_file,
    source_code_from_filename,
)
from eventdedup.model import Listing, SourceEvent
from eventdedup.pickling import fast_pickle

log = logging.getLogger(__name__)

Outcome = Literal["processed", "duplicate", "failed", "archived", "busy", "vanished"]
Messages = list[tuple[str, Mapping[str, Any]]]
#: What identifies the inbox entry that was read: device, inode, size, mtime.
Identity = tuple[int, int, int, int]

#: How many per-event rejection reasons a feed message carries (the sidecar has all).
FEED_REJECTED_LIMIT = 20


class Deduplicator(Protocol):
    """What the pipeline needs from the dedup engine's storage side."""

    def apply(
        self,
        conn: Connection,
        events: Sequence[Listing],
        timings: dict[str, float] | None = None,
        *,
        prepared: Any = None,
        insert: Callable[[store.Matched], object] | None = None,
    ) -> Messages:
        """Match ``events`` incrementally; return feed messages.

        ``timings``, when given, receives the milliseconds spent per step;
        ``prepared`` is what :meth:`preparer` made of the file's events, if anything.
        Without ``insert`` the events are stored already; with it they are not, and
        ``insert`` is called with each one's record, component and canonical.
        """
        ...

    def begin(
        self,
        conn: Connection,
        events: Sequence[Listing],
        timings: dict[str, float] | None = None,
        *,
        prepared: Any = None,
    ) -> Any:
        """The first half of :meth:`apply`, writing nothing: what :meth:`settle` takes."""
        ...

    def look(
        self,
        conn: Connection,
        matching: Any,
        timings: dict[str, float] | None = None,
        *,
        after: Any = None,
    ) -> None:
        """Find and score ``matching``'s candidates ahead, before its locks, taking
        ``after`` (:meth:`begin` of the batch still settling before it) as stored."""
        ...

    def settle(
        self,
        conn: Connection,
        matching: Any,
        timings: dict[str, float] | None = None,
        *,
        insert: Callable[[store.Matched], object] | None = None,
        fresh: Callable[[Connection], bool] | None = None,
    ) -> Messages:
        """The second half of :meth:`apply`; uses what :meth:`look` found if ``fresh``
        says, under the locks, that nothing but ``after``'s events was stored since."""
        ...

    def preparer(self) -> Callable[[Sequence[SourceEvent]], Any] | None:
        """Pure, picklable work on a file's events that may be done ahead (or None)."""
        ...

    def committed(self) -> None:
        """The transaction of the last :meth:`apply` committed (to cache what it wrote)."""
        ...


@fast_pickle(reset=("_loaded", "_by_id"))
@attrs.define(eq=False)
class FileBytes:
    """A file's bytes as read, to be parsed again when its whole events are needed.

    :func:`load_file` is pure, so parsing them again gives the events parsed first.
    """

    data: bytes
    name: str
    max_events: int
    _loaded: LoadedFile | None = None
    _by_id: dict[str, SourceEvent] | None = None

    def loaded(self) -> LoadedFile:
        if self._loaded is None:
            self._loaded = load_file(self.data, self.name, max_events=self.max_events)
        return self._loaded

    def event(self, event_id: str) -> SourceEvent:
        """The accepted event ``event_id`` (ids are unique among a file's accepted events)."""
        if self._by_id is None:
            self._by_id = {e.id: e for e in self.loaded().events}
        return self._by_id[event_id]


@fast_pickle()
@attrs.frozen
class SentEvent:
    """An accepted event as the parse worker hands it to the commit stage (a :class:`Listing`).

    Storing and matching a file whose rows and records were made ahead read only an
    event's id and source, and its content hash for an id stored before; the whole
    event (``raw`` included) is parsed again from the file's bytes when needed: to
    prepare it again after a configuration change, or to quarantine it.
    """

    id: str
    source_code: str
    #: :func:`eventdedup.db.events.content_hash` of its ``raw``
    content_hash: str
    text: FileBytes = attrs.field(eq=False, repr=False)

    def in_full(self) -> SourceEvent:
        return self.text.event(self.id)


@fast_pickle()
@attrs.frozen
class SentFile:
    """A :class:`LoadedFile` as the parse worker hands it over: its accepted events as
    :class:`SentEvent`, the rest as loaded (quarantined events with their ``raw``)."""

    source_code: str
    events: tuple[SentEvent, ...]
    rejected: tuple[RejectedEvent, ...]
    metadata: Mapping[str, Any]
    event_count: int
    warnings: tuple[EventWarning, ...]
    text: FileBytes = attrs.field(eq=False, repr=False)

    @classmethod
    def of(cls, loaded: LoadedFile, hashes: Mapping[str, str], text: FileBytes) -> SentFile:
        return cls(
            loaded.source_code,
            tuple(SentEvent(e.id, e.source_code, hashes[e.id], text) for e in loaded.events),
            loaded.rejected,
            loaded.metadata,
            loaded.event_count,
            loaded.warnings,
            text,
        )

    def in_full(self) -> LoadedFile:
        return self.text.loaded()


@attrs.frozen
class ParsedFile:
    """A file read and validated, or the reason it is refused; nothing stored yet.

    Made by :func:`parse_file`, which touches no database, so the processor can
    parse the next file in a worker process while this one is being committed.
    """

    path: Path
    parse_ms: float
    identity: Identity | None = None
    size: int = 0
    file_hash: str | None = None
    #: a :class:`SentFile` when parsed to be handed over (``parse_file(lean=True)``)
    loaded: LoadedFile | SentFile | None = None
    #: ``(reason, json_path)`` when the file is refused
    failure: tuple[str, str | None] | None = None
    vanished: bool = False
    prepared: Any = None
    #: the events formatted for COPY (:func:`eventdedup.db.events.event_rows`)
    rows: store.EventRows | None = None
    timings: Mapping[str, float] = attrs.field(factory=dict)


def parse_file(
    path: Path,
    max_file_bytes: int,
    max_events: int,
    prepare: Callable[[Sequence[SourceEvent]], Any] | None = None,
    *,
    lean: bool = False,
) -> ParsedFile:
    """Read, hash, validate and (with ``prepare``) prepare one inbox entry.

    Only reads the file system: safe to run in another process, and ahead of
    time, because nothing is decided until :meth:`FileProcessor.commit`, which
    checks that the entry is still the one that was read before moving it.
    ``lean``: to be handed over to another process (pickled): ``loaded`` is then a
    :class:`SentFile`, without the accepted events' fields and ``raw``, which the
    commit stage reads only now and then (docs/performance.md).
    """
    started = time.perf_counter()

    def refused(reason: str, json_path: str | None, **fields: Any) -> ParsedFile:
        return ParsedFile(path, _ms(started), failure=(reason, json_path), **fields)

    try:
        st = path.lstat()
    except FileNotFoundError:
        return ParsedFile(path, _ms(started), vanished=True)
    identity = _identity(st)
    if path.is_symlink() or not path.is_file():
        return refused(
            "not a regular file (symlinks are never followed)",
            None,
            identity=identity,
            size=st.st_size,
        )
    try:
        data = read_limited(path, max_file_bytes)
    except FileRejected as exc:
        # Refused unread (too large, not a regular file): no hash either, which would
        # mean reading all of it.
        return refused(exc.reason, exc.json_path, identity=identity, size=st.st_size)
    except FileNotFoundError:
        return ParsedFile(path, _ms(started), vanished=True)
    file_hash = _sha256(data)
    timings = {"read": _ms(started)}
    lap = time.perf_counter()
    try:
        loaded = load_file(data, path.name, max_events=max_events)
    except FileRejected as exc:
        return refused(
            exc.reason, exc.json_path, identity=identity, size=len(data), file_hash=file_hash
        )
    timings["parse"] = _ms(lap)
    lap = time.perf_counter()
    rows, hashes = store.event_rows_and_hashes(loaded.events)
    timings["format_ahead"] = _ms(lap)
    prepared = None
    if prepare is not None and loaded.events:
        lap = time.perf_counter()
        prepared = prepare(loaded.events)
        timings["prepare_ahead"] = _ms(lap)
    sent = SentFile.of(loaded, hashes, FileBytes(data, path.name, max_events)) if lean else None
    return ParsedFile(
        path,
        _ms(started),
        identity,
        st.st_size,
        file_hash,
        loaded if sent is None else sent,
        prepared=prepared,
        rows=rows,
        timings=timings,
    )


@attrs.frozen
class FileOutcome:
    outcome: Outcome
    filename: str
    file_hash: str | None = None
    file_id: int | None = None
    events_accepted: int = 0
    events_rejected: int = 0
    events_skipped: int = 0
    duration_ms: int = 0
    reason: str | None = None
    moved_to: Path | None = None
    #: Milliseconds per step (read, parse, store, the deduplicator's steps, outbox, commit).
    timings: Mapping[str, float] = attrs.field(factory=dict, eq=False)


@attrs.frozen
class _Stored:
    """A file of a batch, stored (or found stored) inside the batch's transaction."""

    parsed: ParsedFile
    outcome: Outcome
    file_id: int
    accepted: int
    skipped: int
    rejected: list[RejectedEvent]


@attrs.define(eq=False)
class OpenBatch:
    """A batch's transaction, begun: its files claimed and recorded, its events begun by the
    deduplicator (and, when it was opened ahead, their candidates found and scored).

    Made by :meth:`FileProcessor.open_batch`, finished by :meth:`FileProcessor.commit_batch`.
    """

    files: list[ParsedFile]
    conn: Connection
    started: list[float]
    results: list[_Stored | FileOutcome]
    events: list[Listing]
    groups: list[store.EventGroup]
    #: every event the batch accepts, with its file id (what the next batch must see as stored)
    accepted: dict[str, tuple[Listing, int]]
    messages: Messages
    timings: dict[str, float]
    matching: Any = None
    #: the outbox's last seq when it looked ahead (None: it did not)
    since: int | None = None
    #: the batch still settling when this one was opened
    after: OpenBatch | None = None
    #: its outbox seqs (first, last), once it committed as a whole
    seqs: tuple[int, int] | None = None
    #: whether the candidates found ahead were used
    looked_ahead: bool = False

    @property
    def hashes(self) -> set[str]:
        return {p.file_hash for p in self.files if p.file_hash is not None}


def default_replica_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@attrs.define
class FileProcessor:
    """Everything needed to process files; one instance per daemon or CLI run."""

    engine: Engine
    archive_dir: Path
    dead_letter_dir: Path
    max_file_bytes: int = 50 * 1024 * 1024
    max_events: int = 10_000
    deduplicator: Deduplicator | None = None
    replica: str = attrs.Factory(default_replica_name)
    clock: Callable[[], float] = time.monotonic

    def process(self, path: Path) -> FileOutcome:
        """Parse and commit one file, here and now (the CLI's and the tests' path)."""
        return self.commit(self.parse(path))

    def parse(self, path: Path) -> ParsedFile:
        return parse_file(path, self.max_file_bytes, self.max_events, self.preparer())

    def preparer(self) -> Callable[[Sequence[SourceEvent]], Any] | None:
        """What :func:`parse_file` may do ahead for the deduplicator (picklable)."""
        return self.deduplicator.preparer() if self.deduplicator is not None else None

    def commit(self, parsed: ParsedFile) -> FileOutcome:
        """Store a parsed file in one transaction, then archive or dead-letter it."""
        # The file's processing time is its parse plus this, not the wait in between.
        started = self.clock() - parsed.parse_ms / 1000
        path = parsed.path
        if parsed.vanished:
            return FileOutcome("vanished", path.name)
        if parsed.failure is not None:
            reason, json_path = parsed.failure
            return self._fail(
                path, parsed.file_hash, parsed.size, reason, json_path, started, parsed.identity
            )
        assert parsed.loaded is not None and parsed.file_hash is not None
        # A refusal may come from a race with another replica's commit: tried once more.
        # Refused again, it is the file's content, which no retry changes: dead-lettered
        # with the database's reason, instead of failing the processor at every offer.
        for last in (False, True):
            try:
                return self._store(
                    path,
                    parsed.file_hash,
                    parsed.size,
                    parsed.loaded,
                    started,
                    dict(parsed.timings),
                    identity=parsed.identity,
                    prepared=parsed.prepared,
                    rows=parsed.rows,
                )
            except DB_REFUSED as exc:
                if not last:
                    log.warning("the database refused %s; trying once more", path.name)
                    continue
                log.exception("the database refused %s again; dead-lettering it", path.name)
                reason = f"the database refused to store it: {error_line(exc)}"
                return self._fail(
                    path, parsed.file_hash, parsed.size, reason, None, started, parsed.identity
                )
        raise AssertionError("unreachable: the loop returns")

    def commit_batch(
        self, batch: Sequence[ParsedFile], opened: OpenBatch | None = None
    ) -> list[FileOutcome]:
        """Store several parsed files in ONE transaction, matched together; then move each.

        The backlog path: each file in turn is claimed, checked and recorded (it
        keeps its own exactly-once claim, ``file_ingestions`` row and
        ``file.processed`` message), then all their events are matched against
        the store and each other in one :meth:`Deduplicator.apply` — one candidate
        lookup, one clustering and synthesis, one ``COPY`` of the events for the
        batch.  The clusters are those of the files one by
        one (the same pairs are scored and clustering depends only on the
        components).  Refused files are dead-lettered alone, each in its own
        transaction; should the batch's transaction fail for anything but a lost
        database, its files are committed one by one instead, so a file that
        cannot be stored fails alone as it would on its own.  A crash before the
        commit leaves every file of the batch in the inbox; after it, each
        restart finishes the moves as for a single file.

        ``opened`` is :meth:`open_batch` of this batch's files, begun while the batch
        before it was committing; it is used if that batch committed as a whole.
        """
        outcomes: dict[int, FileOutcome] = {}
        good: list[tuple[int, ParsedFile]] = []
        for n, parsed in enumerate(batch):
            if parsed.vanished or parsed.failure is not None:
                outcomes[n] = self.commit(parsed)
            else:
                good.append((n, parsed))
        if opened is not None and (
            len(good) != len(opened.files)
            or any(p is not q for (_, p), q in zip(good, opened.files, strict=False))
            or (opened.after is not None and opened.after.seqs is None)
        ):
            # the batch it looked past did not commit as a whole: what it took as stored
            # may not be; start again
            self.discard(opened)
            opened = None
        if len(good) == 1 and opened is None:
            outcomes[good[0][0]] = self.commit(good[0][1])
        elif good:
            try:
                done = self._finish_batch(
                    opened if opened is not None else self._open_batch([p for _, p in good])
                )
            except DB_DOWN:
                raise
            except Exception:
                log.exception("a batch of %d files failed; committing them one by one", len(good))
                done = [self.commit(p) for _, p in good]
            outcomes.update(zip((n for n, _ in good), done, strict=True))
        elif opened is not None:
            self.discard(opened)
        return [outcomes[n] for n in range(len(batch))]

    def open_batch(
        self, batch: Sequence[ParsedFile], after: OpenBatch | None = None
    ) -> OpenBatch | None:
        """Begin a batch's transaction while ``after`` (None: nothing) is committing.

        Claims and records its files and, with a deduplicator, finds and scores its
        events' candidates, taking ``after``'s events as stored (its uncommitted rows
        are invisible here): the work of the next batch overlaps the writes of the one
        before.  None when there is nothing to gain or it cannot be done safely (fewer
        than two files to store, a file with the content of one of ``after``'s, a
        failure: :meth:`commit_batch` then does it all after ``after``).
        """
        good = [p for p in batch if not (p.vanished or p.failure is not None)]
        if len(good) < 2 or (after is not None and after.hashes & {p.file_hash for p in good}):
            return None
        try:
            return self._open_batch(good, after, ahead=True)
        except Exception:
            log.warning(
                "could not open a batch ahead; it is committed after the one before", exc_info=True
            )
            return None

    def discard(self, opened: OpenBatch) -> None:
        """Roll back a batch opened ahead and not committed."""
        opened.conn.close()  # closing a connection rolls its transaction back
        opened.after = None

    def _open_batch(
        self, batch: Sequence[ParsedFile], after: OpenBatch | None = None, *, ahead: bool = False
    ) -> OpenBatch:
        started = [self.clock() - p.parse_ms / 1000 for p in batch]
        timings: dict[str, float] = {}
        lap = time.perf_counter()
        results: list[_Stored | FileOutcome] = []
        conn = self.engine.connect()
        try:
            conn.begin()
            events: list[Listing] = []
            groups: list[store.EventGroup] = []
            # the events of the batch before (not committed yet) are as good as stored
            earlier: dict[str, tuple[Listing, int]] = (
                dict(after.accepted) if after is not None else {}
            )
            accepted: dict[str, tuple[Listing, int]] = {}
            messages: Messages = []
            for parsed in batch:
                assert parsed.loaded is not None and parsed.file_hash is not None
                name, file_hash, loaded = parsed.path.name, parsed.file_hash, parsed.loaded
                if not store.try_lock_file(conn, file_hash):
                    results.append(FileOutcome("busy", name, file_hash))
                    continue
                # sees the files before it in this batch, as the next file would
                existing = store.completed_by_hash(conn, file_hash)
                if existing is not None:
                    outcome, rejected, notices = self._known_file(
                        conn, name, file_hash, loaded, existing
                    )
                    messages.extend(notices)
                    results.append(_Stored(parsed, outcome, existing.id, 0, 0, rejected))
                    continue
                # events of the files before it are not in the table yet, so they are passed
                accepted_events, skipped, rejected = self._split_known(conn, loaded, earlier)
                file_id = self._insert_completed(
                    conn, name, file_hash, parsed.size, loaded, accepted_events, skipped, rejected
                )
                groups.append((file_id, accepted_events, parsed.rows))
                mine = [(e.id, (e, file_id)) for e in accepted_events]
                earlier.update(mine)
                accepted.update(mine)
                events.extend(accepted_events)
                results.append(
                    _Stored(parsed, "processed", file_id, len(accepted_events), skipped, rejected)
                )
            timings["store"] = _ms(lap)
            opened = OpenBatch(
                list(batch), conn, started, results, events, groups, accepted, messages, timings
            )
            if self.deduplicator is not None and events:
                prepared = [p.prepared for p in batch if p.prepared is not None]
                opened.matching = self.deduplicator.begin(
                    conn, events, timings, prepared=prepared or None
                )
                if ahead:
                    opened.since = outbox.last_seq(conn)
                    opened.after = after
                    self.deduplicator.look(
                        conn,
                        opened.matching,
                        timings,
                        after=after.matching if after is not None else None,
                    )
            return opened
        except BaseException:
            conn.close()
            raise

    def _finish_batch(self, opened: OpenBatch) -> list[FileOutcome]:
        conn, batch, timings, messages = opened.conn, opened.files, opened.timings, opened.messages
        results, events = opened.results, opened.events
        try:
            if self.deduplicator is None or not events:
                store.insert_event_groups(conn, opened.groups)
            else:
                inserted: list[int] = []

                def insert(matched: store.Matched) -> None:
                    inserted.append(store.insert_event_groups(conn, opened.groups, matched))

                messages.extend(
                    self.deduplicator.settle(
                        conn,
                        opened.matching,
                        timings,
                        insert=insert,
                        fresh=self._fresh(opened) if opened.since is not None else None,
                    )
                )
                if not inserted:  # a deduplicator that did not call back
                    store.insert_event_groups(conn, opened.groups)
                opened.looked_ahead = bool(getattr(opened.matching, "looked_ahead", False))
            lap = time.perf_counter()
            durations: list[tuple[int, int]] = []
            for stored, began in zip(results, opened.started, strict=True):
                if not isinstance(stored, _Stored) or stored.outcome != "processed":
                    continue
                duration_ms = int((self.clock() - began) * 1000)
                durations.append((stored.file_id, duration_ms))
                source = stored.parsed.loaded
                assert source is not None
                messages.append(
                    (
                        "file.processed",
                        {
                            "file": stored.parsed.path.name,
                            "file_id": stored.file_id,
                            "hash": stored.parsed.file_hash,
                            "source": source.source_code,
                            "events": source.event_count,
                            "events_accepted": stored.accepted,
                            "events_rejected": len(stored.rejected),
                            "events_skipped": stored.skipped,
                            "duration_ms": duration_ms,
                            "rejected": [
                                _rejection_json(r) for r in stored.rejected[:FEED_REJECTED_LIMIT]
                            ],
                            # matched together with the other files of its batch; whether its
                            # candidates were found while the batch before was committing
                            "batch": {
                                "files": len(batch),
                                "events": len(events),
                                "looked_ahead": opened.looked_ahead,
                            },
                            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
                        },
                    )
                )
            store.update_durations(conn, durations)
            seqs = outbox.append(conn, messages)
            timings["outbox"] = _ms(lap)
            lap = time.perf_counter()
            conn.commit()
        finally:
            conn.close()
            opened.after = None  # settled: the batch before is no longer needed (nor kept alive)
        timings["commit"] = _ms(lap)
        if seqs:
            opened.seqs = (seqs[0], seqs[-1])
        if events and self.deduplicator is not None:
            self.deduplicator.committed()
        # each file's outcome carries its own parse timings and its share of the batch's
        share = {k: v / len(batch) for k, v in timings.items()}
        out: list[FileOutcome] = []
        for stored, began in zip(results, opened.started, strict=True):
            if isinstance(stored, FileOutcome):
                out.append(stored)
                continue
            assert stored.parsed.file_hash is not None
            out.append(
                self._finish(
                    stored.parsed.path,
                    stored.parsed.identity,
                    stored.outcome,
                    stored.parsed.file_hash,
                    stored.file_id,
                    stored.accepted,
                    stored.rejected,
                    stored.skipped,
                    began,
                    {**stored.parsed.timings, **share},
                )
            )
        return out

    @staticmethod
    def _fresh(opened: OpenBatch) -> Callable[[Connection], bool]:
        """Whether nothing was stored since ``opened`` looked but the batch it looked past.

        Every transaction that stores events writes a ``file.processed`` message
        with them, and the outbox's seq is commit-ordered (``db/outbox.py``).
        """
        since, after = opened.since, opened.after
        assert since is not None

        def fresh(conn: Connection) -> bool:
            if after is not None and after.seqs is None:
                return False
            return not outbox.processed_since(conn, since, after.seqs if after else None)

        return fresh

    def _store(
        self,
        path: Path,
        file_hash: str,
        size: int,
        loaded: LoadedFile | SentFile,
        started: float,
        timings: dict[str, float] | None = None,
        *,
        identity: Identity | None = None,
        prepared: Any = None,
        rows: store.EventRows | None = None,
    ) -> FileOutcome:
        name = path.name
        timings = {} if timings is None else timings
        lap = time.perf_counter()
        with self.engine.begin() as conn:
            if not store.try_lock_file(conn, file_hash):
                return FileOutcome("busy", name, file_hash)
            existing = store.completed_by_hash(conn, file_hash)
            rejected: list[RejectedEvent]
            if existing is not None:
                outcome, rejected, notices = self._known_file(
                    conn, name, file_hash, loaded, existing
                )
                outbox.append(conn, notices)
                file_id = existing.id
                accepted = skipped = 0
            else:
                outcome = "processed"
                accepted_events, skipped, rejected = self._split_known(conn, loaded)
                file_id = self._insert_completed(
                    conn, name, file_hash, size, loaded, accepted_events, skipped, rejected
                )
                accepted = len(accepted_events)
                timings["store"] = _ms(lap)
                messages = self._match(conn, [(file_id, accepted_events, rows)], timings, prepared)
                lap = time.perf_counter()
                duration_ms = int((self.clock() - started) * 1000)
                store.update_file(conn, file_id, duration_ms=duration_ms)
                messages.append(
                    (
                        "file.processed",
                        {
                            "file": name,
                            "file_id": file_id,
                            "hash": file_hash,
                            "source": loaded.source_code,
                            "events": loaded.event_count,
                            "events_accepted": accepted,
                            "events_rejected": len(rejected),
                            "events_skipped": skipped,
                            "duration_ms": duration_ms,
                            "rejected": [
                                _rejection_json(r) for r in rejected[:FEED_REJECTED_LIMIT]
                            ],
                            # up to here; the outbox write and the commit follow (in FileOutcome)
                            "timings_ms": {k: round(v, 1) for k, v in timings.items()},
                        },
                    )
                )
                outbox.append(conn, messages)
                timings["outbox"] = _ms(lap)
            lap = time.perf_counter()
        timings["commit"] = _ms(lap)
        if outcome == "processed" and self.deduplicator is not None:
            self.deduplicator.committed()
        return self._finish(
            path,
            identity,
            outcome,
            file_hash,
            file_id,
            accepted,
            rejected,
            skipped,
            started,
            timings,
        )

    def _known_file(
        self,
        conn: Connection,
        name: str,
        file_hash: str,
        loaded: LoadedFile | SentFile,
        existing: sa.Row[Any, Any],
    ) -> tuple[Outcome, list[RejectedEvent], Messages]:
        """A file whose content is committed already: finish it, or announce a duplicate."""
        if existing.filename == name:
            # Committed earlier, but the move out of the inbox never happened
            # (a crash after the commit): finish what that attempt left undone.
            _, _, rejected = self._split_known(conn, loaded)
            return "archived", rejected, []
        return (
            "duplicate",
            [],
            [
                (
                    "file.duplicate",
                    {
                        "file": name,
                        "hash": file_hash,
                        "duplicate_of": existing.filename,
                        "file_id": existing.id,
                    },
                )
            ],
        )

    def _finish(
        self,
        path: Path,
        identity: Identity | None,
        outcome: Outcome,
        file_hash: str,
        file_id: int,
        accepted: int,
        rejected: list[RejectedEvent],
        skipped: int,
        started: float,
        timings: Mapping[str, float],
    ) -> FileOutcome:
        """After the commit: the quarantined events, then the move to the archive."""
        name = path.name
        if outcome == "archived" and self._rejected_written(name, file_hash):
            rejected = []
        if rejected:  # before the move: a crash in between must not lose them
            write_rejected_events(
                self.dead_letter_dir, name, rejected, file_hash=file_hash, at=store.utcnow()
            )
        moved = None
        if self._still_the_same(path, identity):
            existing_link = _hard_link_in(path, self.archive_dir)
            if existing_link is not None:  # a crash between the move's link and unlink
                os.unlink(path)
                moved = existing_link
            else:
                try:
                    moved = move_unique(path, self.archive_dir)
                except FileNotFoundError:  # removed just now (an operator, another replica)
                    log.warning("%s vanished before it was archived", name)
        result = FileOutcome(
            outcome,
            name,
            file_hash,
            file_id,
            accepted,
            len(rejected),
            skipped,
            int((self.clock() - started) * 1000),
            None,
            moved,
            timings,
        )
        _log_outcome(result)
        return result

    def _match(
        self,
        conn: Connection,
        groups: Sequence[store.EventGroup],
        timings: dict[str, float],
        prepared: Any,
    ) -> Messages:
        """Insert the files' accepted events and match them; the feed messages of matching.

        With a deduplicator the rows are written once matching knows their record,
        component and canonical (it calls back); without one, at once.
        """
        events = [e for _, group, _ in groups for e in group]
        if self.deduplicator is None or not events:
            store.insert_event_groups(conn, groups)
            return []
        inserted: list[int] = []

        def insert(matched: store.Matched) -> None:
            inserted.append(store.insert_event_groups(conn, groups, matched))

        messages = self.deduplicator.apply(conn, events, timings, prepared=prepared, insert=insert)
        if not inserted:  # a deduplicator that did not call back: the rows without matching
            store.insert_event_groups(conn, groups)
        return messages

    def _insert_completed(
        self,
        conn: Connection,
        name: str,
        file_hash: str,
        size: int,
        loaded: LoadedFile | SentFile,
        accepted: Sequence[Listing],
        skipped: int,
        rejected: Sequence[RejectedEvent],
    ) -> int:
        """The ``file_ingestions`` row of a file whose events are being stored."""
        return store.insert_file(
            conn,
            filename=name,
            file_hash=file_hash,
            source_code=loaded.source_code,
            state="completed",
            size_bytes=size,
            events_accepted=len(accepted),
            events_rejected=len(rejected),
            events_skipped=skipped,
            rejected=[_rejection_json(r) for r in rejected] or None,
            file_metadata=json_safe(dict(loaded.metadata)),
            replica=self.replica,
        )

    def _split_known(
        self,
        conn: Connection,
        loaded: LoadedFile | SentFile,
        earlier: Mapping[str, tuple[Listing, int]] | None = None,
    ) -> tuple[list[Listing], int, list[RejectedEvent]]:
        """Drop events stored before: identical ones are skipped, changed ones rejected.

        There is no update path for a re-extracted listing yet, so a changed event
        with a known id is quarantined rather than silently overwriting the stored one.
        ``earlier`` are events accepted by the files before this one in a batch, not
        in the table yet: ``{id: (event, file id)}``.
        """
        events: Sequence[Listing] = loaded.events
        known = store.stored_content_hashes(conn, [e.id for e in events])
        for event in events:
            if earlier and event.id in earlier and event.id not in known:
                first, file_id = earlier[event.id]
                known[event.id] = (_content_hash(first), file_id)
        accepted: list[Listing] = []
        rejected = list(loaded.rejected)
        skipped = 0
        # The loader keeps file order and only leaves out quarantined events, so the
        # accepted events' positions in the file are the indexes not quarantined.
        quarantined = {r.index for r in loaded.rejected}
        positions = [i for i in range(loaded.event_count) if i not in quarantined]
        for index, event in zip(positions, events, strict=True):
            previous = known.get(event.id)
            if previous is None:
                accepted.append(event)
            elif previous[0] == _content_hash(event):
                skipped += 1
            else:
                rejected.append(
                    RejectedEvent(
                        index=index,
                        event_id=event.id,
                        reason=f"id {event.id!r} is already stored (file #{previous[1]}) with "
                        "different content; updates of stored events are not supported",
                        json_path=f"$.events[{index}].id",
                        raw=event.in_full().raw,
                    )
                )
        rejected.sort(key=lambda r: r.index)
        return accepted, skipped, rejected

    def _fail(
        self,
        path: Path,
        file_hash: str | None,
        size: int,
        reason: str,
        json_path: str | None,
        started: float,
        identity: Identity | None = None,
    ) -> FileOutcome:
        name = path.name
        duration_ms = int((self.clock() - started) * 1000)
        with self.engine.begin() as conn:
            # Claimed like a good file, so two replicas failing the same file at the same
            # moment record it once: the second finds the first's row below, or the file gone.
            if not store.try_lock_file(conn, file_hash or f"unread:{name}:{size}"):
                return FileOutcome("busy", name, file_hash)
            earlier = conn.execute(
                sa.select(file_ingestions.c.id, file_ingestions.c.moved_to)
                .where(
                    file_ingestions.c.filename == name,
                    file_ingestions.c.file_hash == (file_hash or ""),
                    file_ingestions.c.size_bytes == size,
                    file_ingestions.c.state == "failed",
                )
                .order_by(file_ingestions.c.id.desc())
                .limit(1)
            ).first()
            # The same file offered twice and read twice before the first failure was
            # recorded (a batch parses ahead): the first already dead-lettered it.
            if earlier is not None and earlier.moved_to is not None and not path.exists():
                return FileOutcome("vanished", name, file_hash)
            # Recorded before, but never dead-lettered (a crash after that commit)?
            file_id = earlier.id if earlier is not None and earlier.moved_to is None else None
            if file_id is None:
                file_id = store.insert_file(
                    conn,
                    filename=name,
                    file_hash=file_hash or "",
                    source_code=_source(name),
                    state="failed",
                    size_bytes=size,
                    error={"reason": reason, "json_path": json_path},
                    replica=self.replica,
                    duration_ms=duration_ms,
                )
            outbox.append(
                conn,
                [
                    (
                        "file.failed",
                        {
                            "file": name,
                            "file_id": file_id,
                            "hash": file_hash,
                            "reason": reason,
                            "json_path": json_path,
                        },
                    )
                ],
            )
        moved = None
        if self._still_the_same(path, identity):
            moved = _hard_link_in(path, self.dead_letter_dir)
            if moved is not None:  # a crash between the move's link and unlink
                os.unlink(path)
                sidecar = moved.with_name(moved.name + ERROR_SUFFIX)
                if not sidecar.exists():
                    write_json_atomic(
                        sidecar,
                        {
                            "file": name,
                            "reason": reason,
                            "json_path": json_path,
                            "hash": file_hash,
                            "at": store.utcnow().isoformat(),
                            "size": size,
                        },
                    )
            else:
                try:
                    moved = dead_letter(
                        path,
                        self.dead_letter_dir,
                        reason=reason,
                        json_path=json_path,
                        file_hash=file_hash,
                        at=store.utcnow(),
                    )
                except FileNotFoundError:  # removed just now (an operator, another replica)
                    log.warning("%s vanished before it was dead-lettered", name)
            if moved is not None:
                with self.engine.begin() as conn:
                    store.update_file(conn, file_id, moved_to=str(moved))
        result = FileOutcome(
            "failed",
            name,
            file_hash,
            file_id,
            duration_ms=duration_ms,
            reason=reason,
            moved_to=moved,
        )
        _log_outcome(result)
        return result

    def _still_the_same(self, path: Path, identity: Identity | None) -> bool:
        """Whether ``path`` is still the entry that was read, so moving it is right.

        A new version renamed over it (or rewritten in place) while it was being
        processed stays in the inbox; the watcher offers it again. A file that
        vanished (an operator removed it) is simply not moved.
        """
        try:
            now = _identity(path.lstat())
        except FileNotFoundError:
            log.warning(
                "%s vanished while being processed",
                path.name,
                extra={"event": "file.vanished", "file": path.name},
            )
            return False
        if identity is not None and now != identity:
            log.warning(
                "%s was replaced while being processed; the new version stays in the inbox",
                path.name,
                extra={"event": "file.replaced", "file": path.name},
            )
            return False
        return True

    def _rejected_written(self, name: str, file_hash: str) -> bool:
        """Whether the quarantined events of this file (this content) are in the dead letters."""
        stem = name[:-5] if name.lower().endswith(".json") else name
        if not self.dead_letter_dir.is_dir():
            return False
        for entry in os.scandir(self.dead_letter_dir):
            if not (
                entry.name.startswith(stem)
                and REJECTED_SUFFIX[:-5] in entry.name
                and entry.name.endswith(".json")
                and not entry.name.endswith(ERROR_SUFFIX)
            ):
                continue
            try:
                with open(entry.path, "rb") as f:
                    written = json.load(f)
            except (OSError, ValueError):
                continue
            if (written.get("metadata") or {}).get("sourceHash") == file_hash:
                return True
        return False


def _identity(st: os.stat_result) -> Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _hard_link_in(path: Path, folder: Path) -> Path | None:
    """An entry of ``folder`` that is the same file as ``path`` (a half-finished move)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if st.st_nlink < 2 or not folder.is_dir():
        return None
    for entry in os.scandir(folder):
        if entry.inode() == st.st_ino and entry.stat(follow_symlinks=False).st_dev == st.st_dev:
            return Path(entry.path)
    return None


def announce_accepted(engine: Engine, path: Path, size: int) -> None:
    """Tell the feed a settled file was taken from the inbox (watcher → processor)."""
    with engine.begin() as conn:
        outbox.append(conn, [("file.accepted", {"file": path.name, "size": size})])


def _source(name: str) -> str:
    try:
        return source_code_from_filename(name)
    except FileRejected:
        return ""


def _content_hash(event: Listing) -> str:
    if isinstance(event, SentEvent):
        return event.content_hash  # made in the parse worker
    return store.content_hash(event.in_full().raw)


def _rejection_json(r: RejectedEvent) -> dict[str, Any]:
    return {"index": r.index, "id": r.event_id, "reason": r.reason, "json_path": r.json_path}


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _log_outcome(result: FileOutcome) -> None:
    log.info(
        "file %s: %s",
        result.outcome,
        result.filename,
        extra={
            "event": "file",
            "file": result.filename,
            "hash": result.file_hash,
            "outcome": result.outcome,
            "events_accepted": result.events_accepted,
            "events_rejected": result.events_rejected,
            "events_skipped": result.events_skipped,
            "duration_ms": result.duration_ms,
            "reason": result.reason,
        },
    )
