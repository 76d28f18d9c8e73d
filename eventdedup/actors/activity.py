"""Files first: whether this replica's processor is committing a file right now.

The processor marks each file's commit as busy; the resolver waits until it
has been idle for a moment before claiming an item and again before applying
an answer, so within a replica it neither holds the matching lock nor competes
for the interpreter and the database while files are being committed; a file
that arrives meanwhile waits at most for the one answer being applied (~0.1 s).  Across
replicas the resolver's non-waiting ``pg_try_advisory_xact_lock`` does that.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import trio


class FileActivity:
    def __init__(self) -> None:
        self._files = 0
        self._started = 0  # commits begun so far
        self._idle = trio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return self._files > 0

    @contextlib.contextmanager
    def committing(self) -> Iterator[None]:
        """Mark a file's commit (nestable; trio-only, like the actors that share it)."""
        if self._files == 0:
            self._idle = trio.Event()
        self._files += 1
        self._started += 1
        try:
            yield
        finally:
            self._files -= 1
            if self._files == 0:
                self._idle.set()

    async def wait_idle(self, settle: float = 0.0) -> None:
        """Return once no file has been committed for ``settle`` seconds.

        Files queued back to back follow each other within milliseconds: the
        settle time keeps the resolver out of the gap between two of them.
        """
        while True:
            while self._files:
                await self._idle.wait()
            started = self._started
            await trio.sleep(settle)
            if not self._files and self._started == started:
                return
