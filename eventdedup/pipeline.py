"""Processing one file, start to finish: the code path shared by the daemon and the CLI.

A file is read, validated and stored in ONE transaction together with its feed
messages; only after the commit is it moved out of the inbox.  A crash at any
point therefore leaves either nothing (the file is still in the inbox and is
processed again) or everything (the hash is recorded; the next attempt just
finishes the move).  Bad files are recorded as failed, announced, and moved to
the dead-letter folder with a sidecar that says why.

This module is synchronous; the processor actor runs it in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import attrs
from sqlalchemy.engine import Connection, Engine

from eventdedup.db import events as store
from eventdedup.db import outbox
from eventdedup.ingest.files import (
    dead_letter,
    move_unique,
    read_limited,
    sha256_file,
    write_rejected_events,
)
from eventdedup.ingest.loader import (
    FileRejected,
    LoadedFile,
    RejectedEvent,
    json_safe,
    load_file,
    source_code_from_filename,
)
from eventdedup.model import SourceEvent

log = logging.getLogger(__name__)

Outcome = Literal["processed", "duplicate", "failed", "archived", "busy", "vanished"]
Messages = list[tuple[str, Mapping[str, Any]]]

#: How many per-event rejection reasons a feed message carries (the sidecar has all).
FEED_REJECTED_LIMIT = 20


class Deduplicator(Protocol):
    """What the pipeline needs from the dedup engine's storage side."""

    def apply(self, conn: Connection, events: Sequence[SourceEvent]) -> Messages:
        """Match ``events`` (already inserted) incrementally; return feed messages."""
        ...


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
        started = self.clock()
        name = path.name
        try:
            st = path.lstat()
        except FileNotFoundError:
            return FileOutcome("vanished", name)
        if path.is_symlink() or not path.is_file():
            return self._fail(path, None, st.st_size, "not a regular file (symlinks are never "
                              "followed)", None, started)
        try:
            data = read_limited(path, self.max_file_bytes)
        except FileRejected as exc:
            return self._fail(path, sha256_file(path), st.st_size, exc.reason, exc.json_path,
                              started)
        except FileNotFoundError:
            return FileOutcome("vanished", name)
        file_hash = _sha256(data)
        try:
            loaded = load_file(data, name, max_events=self.max_events)
        except FileRejected as exc:
            return self._fail(path, file_hash, len(data), exc.reason, exc.json_path, started)
        del data
        return self._store(path, file_hash, st.st_size, loaded, started)

    def _store(self, path: Path, file_hash: str, size: int, loaded: LoadedFile,
               started: float) -> FileOutcome:
        name = path.name
        with self.engine.begin() as conn:
            if not store.try_lock_file(conn, file_hash):
                return FileOutcome("busy", name, file_hash)
            existing = store.completed_by_hash(conn, file_hash)
            if existing is not None:
                if existing.filename == name:
                    # Committed earlier, but the move out of the inbox never happened.
                    outcome: Outcome = "archived"
                else:
                    outcome = "duplicate"
                    outbox.append(conn, [("file.duplicate", {
                        "file": name, "hash": file_hash, "duplicate_of": existing.filename,
                        "file_id": existing.id})])
                file_id = existing.id
                accepted = skipped = 0
                rejected: list[RejectedEvent] = []
            else:
                outcome = "processed"
                accepted_events, skipped, rejected = self._split_known(conn, loaded)
                file_id = store.insert_file(
                    conn, filename=name, file_hash=file_hash, source_code=loaded.source_code,
                    state="completed", size_bytes=size, events_accepted=len(accepted_events),
                    events_rejected=len(rejected), events_skipped=skipped,
                    rejected=[_rejection_json(r) for r in rejected] or None,
                    file_metadata=json_safe(dict(loaded.metadata)), replica=self.replica)
                accepted = store.insert_events(conn, file_id, accepted_events)
                messages: Messages = []
                if self.deduplicator is not None:
                    messages.extend(self.deduplicator.apply(conn, accepted_events))
                duration_ms = int((self.clock() - started) * 1000)
                store.update_file(conn, file_id, duration_ms=duration_ms)
                messages.append(("file.processed", {
                    "file": name, "file_id": file_id, "hash": file_hash,
                    "source": loaded.source_code, "events": loaded.event_count,
                    "events_accepted": accepted, "events_rejected": len(rejected),
                    "events_skipped": skipped, "duration_ms": duration_ms,
                    "rejected": [_rejection_json(r) for r in rejected[:FEED_REJECTED_LIMIT]],
                }))
                outbox.append(conn, messages)
        moved = move_unique(path, self.archive_dir)
        if rejected:
            write_rejected_events(self.dead_letter_dir, name, rejected, file_hash=file_hash,
                                  at=store.utcnow())
        result = FileOutcome(outcome, name, file_hash, file_id, accepted, len(rejected), skipped,
                             int((self.clock() - started) * 1000), None, moved)
        _log_outcome(result)
        return result

    def _split_known(
        self, conn: Connection, loaded: LoadedFile
    ) -> tuple[list[SourceEvent], int, list[RejectedEvent]]:
        """Drop events stored before: identical ones are skipped, changed ones rejected.

        There is no update path for a re-extracted listing yet, so a changed event
        with a known id is quarantined rather than silently overwriting the stored one.
        """
        known = store.stored_content_hashes(conn, [e.id for e in loaded.events])
        accepted: list[SourceEvent] = []
        rejected = list(loaded.rejected)
        skipped = 0
        # The loader keeps file order and only leaves out quarantined events, so the
        # accepted events' positions in the file are the indexes not quarantined.
        quarantined = {r.index for r in loaded.rejected}
        positions = [i for i in range(loaded.event_count) if i not in quarantined]
        for index, event in zip(positions, loaded.events, strict=True):
            previous = known.get(event.id)
            if previous is None:
                accepted.append(event)
            elif previous[0] == store.content_hash(event.raw):
                skipped += 1
            else:
                rejected.append(RejectedEvent(
                    index=index, event_id=event.id,
                    reason=f"id {event.id!r} is already stored (file #{previous[1]}) with "
                           "different content; updates of stored events are not supported",
                    json_path=f"$.events[{index}].id", raw=event.raw))
        rejected.sort(key=lambda r: r.index)
        return accepted, skipped, rejected

    def _fail(self, path: Path, file_hash: str | None, size: int, reason: str,
              json_path: str | None, started: float) -> FileOutcome:
        name = path.name
        duration_ms = int((self.clock() - started) * 1000)
        with self.engine.begin() as conn:
            file_id = store.insert_file(
                conn, filename=name, file_hash=file_hash or "", source_code=_source(name),
                state="failed", size_bytes=size, error={"reason": reason, "json_path": json_path},
                replica=self.replica, duration_ms=duration_ms)
            outbox.append(conn, [("file.failed", {
                "file": name, "file_id": file_id, "hash": file_hash, "reason": reason,
                "json_path": json_path})])
        moved = dead_letter(path, self.dead_letter_dir, reason=reason, json_path=json_path,
                            file_hash=file_hash, at=store.utcnow())
        with self.engine.begin() as conn:
            store.update_file(conn, file_id, moved_to=str(moved))
        result = FileOutcome("failed", name, file_hash, file_id, duration_ms=duration_ms,
                             reason=reason, moved_to=moved)
        _log_outcome(result)
        return result


def announce_accepted(engine: Engine, path: Path, size: int) -> None:
    """Tell the feed a settled file was taken from the inbox (watcher → processor)."""
    with engine.begin() as conn:
        outbox.append(conn, [("file.accepted", {"file": path.name, "size": size})])


def _source(name: str) -> str:
    try:
        return source_code_from_filename(name)
    except FileRejected:
        return ""


def _rejection_json(r: RejectedEvent) -> dict[str, Any]:
    return {"index": r.index, "id": r.event_id, "reason": r.reason, "json_path": r.json_path}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _log_outcome(result: FileOutcome) -> None:
    log.info(
        "file %s: %s", result.outcome, result.filename,
        extra={"event": "file", "file": result.filename, "hash": result.file_hash,
               "outcome": result.outcome, "events_accepted": result.events_accepted,
               "events_rejected": result.events_rejected, "events_skipped": result.events_skipped,
               "duration_ms": result.duration_ms, "reason": result.reason},
    )
