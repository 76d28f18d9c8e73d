"""Fan-out of the outbox to websocket clients.

One hub per daemon reads new outbox rows (woken by this process's commits, by
PostgreSQL NOTIFY from other replicas, or by a poll timer as a fallback) and
pushes them into a bounded queue per client.  The hub never waits for a
client: a client whose queue is full is cut off and told the last sequence
number it was sent, so it can resume with ``?after=``.  A slow client can
therefore never slow the pipeline or the other clients.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import attrs
import trio

from eventdedup.db.outbox import FeedMessage

log = logging.getLogger(__name__)

FetchAfter = Callable[[int, int], Awaitable[list[FeedMessage]]]

#: Close code sent to a client that fell too far behind (private-use range 4000-4999).
CLOSE_LAGGING = 4008


@attrs.define(eq=False)
class Subscription:
    """One client's view of the live feed."""

    send: trio.MemorySendChannel[FeedMessage]
    receive: trio.MemoryReceiveChannel[FeedMessage]
    types: frozenset[str] | None = None
    start: int = 0  # the hub's head when subscribing: live messages come after it
    overflowed: bool = False

    def wants(self, message: FeedMessage) -> bool:
        return self.types is None or message.type in self.types


@attrs.define(eq=False)
class FeedHub:
    """Reads the outbox once per wake-up and fans it out to every subscriber.

    Wake-ups come from this process's commits (:meth:`notify`), from other
    replicas through PostgreSQL NOTIFY (the feed actor's listener calls
    :meth:`notify` too) and from a timer.  The timer is only a safety net while
    the listener is connected (``listening``) and the main mechanism while it
    is not, so a lost NOTIFY connection costs latency, never messages.
    """

    fetch_after: FetchAfter
    queue_size: int = 1000
    poll_interval: float = 1.0
    listen_poll_interval: float = 10.0
    listening: bool = False
    head: int = 0
    _subscribers: set[Subscription] = attrs.Factory(set)
    _wake: trio.Event = attrs.Factory(trio.Event)
    _started: trio.Event = attrs.Factory(trio.Event)

    def notify(self) -> None:
        """Wake the hub: something was committed (here or, via NOTIFY, elsewhere)."""
        self._wake.set()

    @property
    def client_count(self) -> int:
        return len(self._subscribers)

    def subscribe(self, types: frozenset[str] | None = None) -> Subscription:
        send, receive = trio.open_memory_channel[FeedMessage](self.queue_size)
        sub = Subscription(send, receive, types, start=self.head)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        sub.send.close()

    @property
    def is_started(self) -> bool:
        return self._started.is_set()

    async def wait_started(self) -> None:
        await self._started.wait()

    async def run(self, *, initial_head: int, task_status: trio.TaskStatus[None]
                  = trio.TASK_STATUS_IGNORED) -> None:
        self.head = initial_head
        self._started.set()
        task_status.started()
        while True:
            interval = self.listen_poll_interval if self.listening else self.poll_interval
            with trio.move_on_after(interval):
                await self._wake.wait()
            self._wake = trio.Event()
            await self.pump()

    async def pump(self) -> None:
        """Deliver every committed message after ``head`` to every subscriber."""
        while True:
            batch = await self.fetch_after(self.head, 500)
            if not batch:
                return
            for message in batch:
                self._deliver(message)
                self.head = message.seq
            if len(batch) < 500:
                return

    def _deliver(self, message: FeedMessage) -> None:
        for sub in list(self._subscribers):
            if not sub.wants(message):
                continue
            try:
                sub.send.send_nowait(message)
            except trio.WouldBlock:
                sub.overflowed = True
                self.unsubscribe(sub)
                log.warning("feed client fell behind; disconnecting it",
                            extra={"event": "feed.lagging", "seq": message.seq})
            except trio.ClosedResourceError:
                self._subscribers.discard(sub)


async def stream(
    hub: FeedHub,
    sub: Subscription,
    after: int | None,
    send: Callable[[FeedMessage], Awaitable[None]],
) -> int:
    """Replay from ``after`` (if given), then follow the live feed, without gap or repeat.

    ``sub`` must have been taken *before* the client was told it is connected,
    and before the replay: anything committed meanwhile is queued, and queued
    messages at or below the last replayed ``seq`` are skipped.  Returns the
    last sequence number sent once the client was cut off for lagging (the
    caller closes with :data:`CLOSE_LAGGING`).
    """
    last = sub.start if after is None else after
    try:
        if after is not None:
            while True:
                batch = await hub.fetch_after(last, 500)
                for message in batch:
                    if sub.wants(message):
                        await send(message)
                    last = message.seq
                if len(batch) < 500:
                    break
        async for message in sub.receive:
            if message.seq <= last:
                continue
            await send(message)
            last = message.seq
        return last
    finally:
        hub.unsubscribe(sub)


def parse_types(raw: str | None) -> frozenset[str] | None:
    if not raw:
        return None
    return frozenset(t.strip() for t in raw.split(",") if t.strip())


def parse_after(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    value = int(raw)
    if value < 0 or not math.isfinite(value):
        raise ValueError("after must be a non-negative sequence number")
    return value
