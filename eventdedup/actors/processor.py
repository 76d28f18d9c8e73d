"""The processor actor: take settled files off the queue and process them.

Two stages: while file N is in the database (a worker thread, one
transaction), file N+1 is read, validated and prepared for matching in a
worker process.  The stages overlap on the machine's two cores; nothing is
decided in the first stage, so a file parsed ahead but never committed (a
shutdown, a crash) is simply parsed again from the inbox later.  With a
backlog, the first stage runs up to a batch ahead and the files parsed meanwhile
are committed together (``batch_files``); each batch is opened (its candidates
found and scored) while the batch before it commits (:func:`open_ahead`).
"""

from __future__ import annotations

import functools
import logging
import math
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any

import attrs
import trio
import trio_parallel
from tenacity import (
    AsyncRetrying,
    before_sleep_log,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from eventdedup.actors.activity import FileActivity
from eventdedup.db.ahead import RecentRecords
from eventdedup.db.dedup import PrepareAhead
from eventdedup.db.engine import DB_DOWN, Database
from eventdedup.model import SourceEvent
from eventdedup.pipeline import FileOutcome, FileProcessor, OpenBatch, ParsedFile, parse_file

log = logging.getLogger(__name__)

#: parse a file; the flag: whether to score its pairs ahead too (``db/ahead.py``; None: no
#: scoring ahead at all, so the worker keeps no records either)
Parse = Callable[[Path, bool | None], Awaitable[ParsedFile]]
WarmUp = Callable[[], Awaitable[None]]


@asynccontextmanager
async def parsing(files: FileProcessor, workers: int) -> AsyncIterator[tuple[Parse, WarmUp]]:
    """How the first stage runs: in ``workers`` processes, or (0) in a thread here.

    Also yields a warm-up to run in the background as the stage starts: it starts
    the worker processes, so that the first file does not wait for a process to
    start and import the loader.
    """
    if workers == 0:

        async def in_thread(path: Path, score_ahead: bool | None) -> ParsedFile:
            return await trio.to_thread.run_sync(files.parse, path)

        async def nothing_to_warm() -> None:
            pass

        yield in_thread, nothing_to_warm
        return
    limiter = trio.CapacityLimiter(workers)
    async with trio_parallel.open_worker_context(idle_timeout=math.inf, grace_period=5.0) as ctx:

        async def warm_one() -> None:
            try:
                await ctx.run_sync(warm_worker, kill_on_cancel=True, limiter=limiter)
            except Exception as exc:  # best effort: the first file then starts the worker
                log.warning("could not start a parse worker ahead: %s", exc)

        async def warm_up() -> None:
            async with trio.open_nursery() as nursery:
                for _ in range(workers):
                    nursery.start_soon(warm_one)

        async def in_worker(path: Path, score_ahead: bool | None) -> ParsedFile:
            # Parsing decides nothing, so a shutdown may kill it half-way.
            data = await ctx.run_sync(
                parse_pickled,
                path,
                files.max_file_bytes,
                files.max_events,
                files.preparer(),
                score_ahead,
                kill_on_cancel=True,
                limiter=limiter,
            )
            # trio-parallel unpickles a result in the event loop; a 200-event file takes
            # ~5 ms to unpickle (its value objects: eventdedup/pickling.py), long enough to
            # delay /health and the feed, so it comes as bytes and is unpickled here in a
            # thread instead.
            parsed: ParsedFile = await trio.to_thread.run_sync(pickle.loads, data)
            return parsed

        yield in_worker, warm_up


def warm_worker() -> None:
    """Runs first in each parse worker: its start-up and imports, done before a file waits."""


#: In a parse worker process: the records it prepared last, kept between files so that it
#: scores each file's pairs with them ahead (``db/ahead.py``).  Only ever set in a worker
#: process, by its first file; the daemon's own process never holds one.
_recent: RecentRecords | None = None


def parse_pickled(
    path: Path,
    max_file_bytes: int,
    max_events: int,
    prepare: Callable[[Sequence[SourceEvent]], Any] | None,
    score_ahead: bool | None = None,
) -> bytes:
    """:func:`parse_file` in the worker process, its result pickled there.

    With ``score_ahead`` the file's pairs with the files this worker prepared before are
    scored here too; unless it is None, the file's records are kept for the files after it.
    """
    global _recent
    if isinstance(prepare, PrepareAhead) and score_ahead is not None:
        if _recent is None:
            _recent = RecentRecords()
        prepare = functools.partial(prepare, recent=_recent, score=score_ahead)
    return pickle.dumps(
        parse_file(path, max_file_bytes, max_events, prepare, lean=True),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


async def parse_ahead(
    queue: trio.MemoryReceiveChannel[Path],
    parsed: trio.MemorySendChannel[ParsedFile],
    parse: Parse,
    score_when: int | None = None,
) -> None:
    """First stage: parse each queued file; hand it on when the second stage has room.

    With ``score_when``, a file's pairs are scored ahead (in the worker, ``db/ahead.py``)
    while this stage is well ahead of the second, i.e. that many parsed files are already
    waiting for it: that moves work off the commit stage while it is the slower one,
    without making this stage the slower one, which would shrink the batches the commit
    stage takes.  None: never.
    """
    async with parsed:
        async for path in queue:
            waiting = parsed.statistics().current_buffer_used
            ahead = None if score_when is None else waiting >= score_when
            await parsed.send(await parse(path, ahead))


async def take_batch(
    parsed: trio.MemoryReceiveChannel[ParsedFile], batch_files: int
) -> list[ParsedFile]:
    """The next parsed file, with those parsed meanwhile (up to ``batch_files`` in all).

    A backlog forms a batch by itself: while a batch commits, the first stage
    parses up to ``batch_files`` files ahead, and :func:`open_ahead` takes them
    all at once.  A file arriving alone is committed alone, without waiting.
    """
    batch = [await parsed.receive()]
    while len(batch) < batch_files:
        try:
            batch.append(parsed.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            break
    return batch


async def processor(
    queue: trio.MemoryReceiveChannel[Path],
    db: Database,
    files: FileProcessor,
    *,
    on_done: Callable[[FileOutcome], None] | None = None,
    max_wait: float = 10.0,
    parse_workers: int = 1,
    batch_files: int = 1,
    activity: FileActivity | None = None,
    score_ahead: bool = False,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: parse ahead, then commit each file (or batch of files) in a worker thread.

    With ``batch_files`` > 1, a backlog of queued files is committed in batches
    (:meth:`FileProcessor.commit_batch`) of the files parsed while the previous
    commit ran; a file arriving alone still goes through on its own, at once.

    The commit's worker thread is not abandoned on shutdown, so a file in flight
    either commits or rolls back before the actor stops; a file the actor never
    got to stays in the inbox and is offered again by the watcher.  A database
    outage is waited out with backoff (the file stays in the inbox meanwhile)
    instead of crashing the actor: outages are reported by ``/health``, not
    escalated.
    """
    try:
        await _run_stages(
            queue,
            db,
            files,
            on_done,
            max_wait,
            parse_workers,
            batch_files,
            activity,
            score_ahead,
            task_status,
        )
    except BaseExceptionGroup as group:
        # The stages' nursery wraps a crash in a group; a single cause is re-raised
        # bare so the supervisor (and whoever reads its escalation) sees it directly.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def _run_stages(
    queue: trio.MemoryReceiveChannel[Path],
    db: Database,
    files: FileProcessor,
    on_done: Callable[[FileOutcome], None] | None,
    max_wait: float,
    parse_workers: int,
    batch_files: int,
    activity: FileActivity | None,
    score_ahead: bool,
    task_status: trio.TaskStatus[None],
) -> None:
    async with parsing(files, parse_workers) as (parse, warm_up), trio.open_nursery() as nursery:
        nursery.start_soon(warm_up)
        # The first stage runs one file ahead of the second, or with batches as many
        # as make a batch: unbuffered without batching.
        parsed_send, parsed_receive = trio.open_memory_channel[ParsedFile](max(0, batch_files - 1))
        # with score_ahead: while at least half a batch waits (docs/performance.md)
        score_when = max(1, batch_files // 2) if score_ahead and batch_files > 1 else None
        nursery.start_soon(parse_ahead, queue, parsed_send, parse, score_when)
        # batches opened ahead go to the commit stage one at a time (unbuffered): the
        # next batch is opened while the one before commits, never further ahead
        opened_send, opened_receive = trio.open_memory_channel[_Handed](0)
        nursery.start_soon(open_ahead, parsed_receive, opened_send, db, files, batch_files)
        task_status.started()
        async with opened_receive:
            async for handed in opened_receive:
                try:
                    outcomes = await _commit(handed, db, files, max_wait, activity)
                finally:
                    handed.done.set()
                if on_done is not None:
                    for outcome in outcomes:
                        on_done(outcome)


@attrs.define(eq=False)
class _Handed:
    """A batch on its way to the commit stage, opened ahead or not."""

    batch: list[ParsedFile]
    opened: OpenBatch | None
    #: set once the commit stage is done with it, whatever the outcome
    done: trio.Event = attrs.Factory(trio.Event)


async def open_ahead(
    parsed: trio.MemoryReceiveChannel[ParsedFile],
    handed: trio.MemorySendChannel[_Handed],
    db: Database,
    files: FileProcessor,
    batch_files: int,
) -> None:
    """Second stage: take the next batch and open it while the batch before it commits.

    Opening a batch (:meth:`FileProcessor.open_batch`) claims and records its files
    and finds and scores its candidates, taking the events of the batch still
    committing as stored; the commit stage then only locks, writes and clusters.
    So the commit stage's database work overlaps this stage's matching.  A single
    file (no backlog) goes through as it is.
    """
    last: _Handed | None = None
    async with handed:
        while True:
            try:
                batch = await take_batch(parsed, batch_files)
            except trio.EndOfChannel:
                break
            opened = None
            if len(batch) > 1:
                after = None
                if last is not None and not last.done.is_set():
                    if last.opened is None:  # committing without having been opened
                        await last.done.wait()
                    else:
                        after = last.opened
                # not abandoned half-way: what it opens is either handed on or rolled back
                with trio.CancelScope(shield=True):
                    opened = await db.run(files.open_batch, batch, after)
            item = _Handed(batch, opened)
            try:
                await handed.send(item)
            except BaseException:
                if opened is not None:
                    with trio.CancelScope(shield=True):
                        await db.run(files.discard, opened)
                raise
            last = item


async def _commit(
    handed: _Handed,
    db: Database,
    files: FileProcessor,
    max_wait: float,
    activity: FileActivity | None,
) -> list[FileOutcome]:
    """Commit a batch; a lost database is waited out with backoff (the files stay in the
    inbox meanwhile), each new attempt from the start."""
    batch, opened = handed.batch, handed.opened
    retrying = AsyncRetrying(
        wait=wait_exponential_jitter(multiplier=0.5, max=max_wait, jitter=0.5),
        retry=retry_if_exception_type(DB_DOWN),
        before_sleep=before_sleep_log(log, logging.WARNING),
        sleep=trio.sleep,
        reraise=True,
    )
    with activity.committing() if activity is not None else nullcontext():
        async for attempt in retrying:
            with attempt:
                ahead, opened = opened, None  # what was opened ahead is used once
                if len(batch) == 1:
                    return [await db.run(files.commit, batch[0])]
                return await db.run(files.commit_batch, batch, ahead)
    raise AssertionError("unreachable: the retrying loop returns or raises")
