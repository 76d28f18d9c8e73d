"""Watch the inbox and hand settled files to the processor.

A file is handed over only once it is complete: temp names (dot-files,
``*.tmp``, ``*.part``) are ignored, and a file is accepted when its size and
mtime have been stable for the settle period — or at once when it was renamed
or moved into place (inotify's ``IN_MOVED_TO``, see ``moves.py``; when polling,
a rename inside the inbox shows up as a delete plus an add in one change batch)
or its mtime is already older than the settle period (found at start).

The hand-over queue lives outside this actor, so either side may restart
without losing anything; and the inbox itself is the durable queue: a periodic
rescan re-offers every file still lying there, and the processor is idempotent
by content hash, so a file offered twice is processed once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio
import watchfiles

from eventdedup.actors.moves import watch_moves_in
from eventdedup.ingest.files import (
    backlog_files,
    is_candidate_entry,
    is_candidate_name,
    publication_key,
)

log = logging.getLogger(__name__)

Announce = Callable[[Path, int], Awaitable[None]]


@attrs.define
class _Pending:
    size: int
    mtime_ns: int
    stable_since: float
    immediate: bool = False


def _stat(path: Path) -> tuple[int, int] | None:
    """Size and mtime of an entry the processor takes (``is_candidate_entry``), else None."""
    try:
        st = path.lstat()
    except OSError:
        return None
    if not is_candidate_entry(st.st_mode):
        return None
    return st.st_size, st.st_mtime_ns


@attrs.define
class InboxWatcher:
    """The state of one watcher run; restarted from scratch with the actor."""

    inbox: Path
    queue: trio.MemorySendChannel[Path]
    settle_seconds: float
    announce: Announce | None = None
    pending: dict[Path, _Pending] = attrs.Factory(dict)
    handed: dict[Path, tuple[tuple[int, int], float]] = attrs.Factory(dict)
    wake: trio.Event = attrs.Factory(trio.Event)

    def offer(self, path: Path, *, renamed: bool = False) -> None:
        stat = _stat(path)
        if stat is None:
            self.pending.pop(path, None)
            return
        now = trio.current_time()
        previous = self.handed.get(path)
        if previous is not None and previous[0] == stat:
            return  # already handed over unchanged; the rescan re-offers if it lingers
        old_enough = time.time() - stat[1] / 1e9 >= self.settle_seconds
        entry = self.pending.get(path)
        if entry is None or (entry.size, entry.mtime_ns) != stat:
            self.pending[path] = _Pending(stat[0], stat[1], now, immediate=renamed or old_enough)
        elif renamed:
            entry.immediate = True
        self.wake.set()

    async def settle_loop(self) -> None:
        tick = max(0.05, min(0.25, self.settle_seconds / 4))
        while True:
            with trio.move_on_after(tick):
                await self.wake.wait()
            self.wake = trio.Event()
            now = trio.current_time()
            for path in sorted(self.pending, key=lambda p: publication_key(p.name)):
                entry = self.pending[path]
                stat = _stat(path)
                if stat is None:
                    del self.pending[path]
                    continue
                if (entry.size, entry.mtime_ns) != stat:
                    entry.size, entry.mtime_ns = stat
                    entry.stable_since, entry.immediate = now, False
                    continue
                if entry.immediate or now - entry.stable_since >= self.settle_seconds:
                    del self.pending[path]
                    await self._hand_over(path, stat)

    async def _hand_over(self, path: Path, stat: tuple[int, int]) -> None:
        self.handed[path] = (stat, trio.current_time())
        if self.announce is not None:
            await self.announce(path, stat[0])
        await self.queue.send(path)

    async def rescan(self, *, reoffer_after: float) -> None:
        # in a worker thread: listing a large backlog would stall the loop (docs/performance.md)
        listed_at = trio.current_time()
        present = set(await trio.to_thread.run_sync(backlog_files, self.inbox))
        now = trio.current_time()
        for path, (_, handed_at) in list(self.handed.items()):
            if path not in present and handed_at < listed_at:  # gone (not handed meanwhile)
                del self.handed[path]
            elif now - handed_at >= reoffer_after:
                del self.handed[path]  # still here long after hand-over: offer it again
        for path in present:  # a file handed over and still here is left to reoffer_after
            if path not in self.pending and path not in self.handed:
                self.offer(path)

    def on_moved(self, path: Path) -> None:
        """A name was renamed or moved into the inbox: the file under it is complete."""
        if path.parent == self.inbox and is_candidate_name(path.name):
            self.offer(path, renamed=True)

    def on_changes(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        deleted = any(c == watchfiles.Change.deleted for c, _ in changes)
        for change, raw in sorted(changes, key=lambda c: c[1]):
            path = Path(raw)
            if path.parent != self.inbox or not is_candidate_name(path.name):
                continue
            if change == watchfiles.Change.deleted:
                self.pending.pop(path, None)
                self.handed.pop(path, None)
            else:
                self.offer(path, renamed=change == watchfiles.Change.added and deleted)


async def watcher(
    inbox: Path,
    queue: trio.MemorySendChannel[Path],
    *,
    settle_seconds: float = 1.0,
    poll: bool = False,
    rescan_seconds: float = 30.0,
    announce: Announce | None = None,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: watch ``inbox`` (non-recursively) and send settled files to ``queue``.

    ``inbox`` must be an existing, absolute path (the daemon prepares it).
    """
    state = InboxWatcher(inbox, queue, settle_seconds, announce)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(state.settle_loop)
        moves_seen = False if poll else await nursery.start(watch_moves_in, inbox, state.on_moved)
        nursery.start_soon(_watch_loop, state, poll)
        await state.rescan(reoffer_after=rescan_seconds)
        log.info(
            "watching inbox",
            extra={
                "inbox": str(inbox),
                "poll": poll,
                "moves_seen": moves_seen,
                "pending": len(state.pending),
            },
        )
        task_status.started()
        while True:
            await trio.sleep(rescan_seconds)
            await state.rescan(reoffer_after=rescan_seconds)


async def _watch_loop(state: InboxWatcher, poll: bool) -> None:
    async for changes in watchfiles.awatch(
        state.inbox,
        watch_filter=None,
        recursive=False,
        force_polling=poll,
        poll_delay_ms=250,
        debounce=200,
        step=50,
        rust_timeout=500,
        yield_on_timeout=False,
    ):
        state.on_changes(changes)
