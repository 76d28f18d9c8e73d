"""Fan-out of the outbox to websocket clients.

One hub per daemon reads new outbox rows (woken by this process's commits, by
PostgreSQL NOTIFY from other replicas, or by a poll timer as a fallback) into
one shared window of recent messages, each encoded to JSON once.  Every
client has a cursor into that window and its own sender task, which sends
*everything* it is behind by as one frame (``{"feed": [...]}``).

Why frames of many messages: the cost of a websocket send is almost all per
frame (ASGI hand-offs, a wsproto frame, a socket write), not per byte.  A
file commits a few hundred messages at once, and one frame per message and
client would make 200 clients lag far behind and slow the processor sharing
the GIL (docs/reliability.md).  With frames of everything pending, a burst
costs each client one or two sends, and a client that keeps up gets frames of
one message.

The hub never waits for a client.  A client whose socket has not taken the
frame it is being sent for ``stuck_after`` seconds (1) while it is more than
``queue_size`` messages behind the head is cut off and told the last sequence
number it was sent, so it can resume with ``?after=``.  A client that is merely
idle is never cut off: it takes whatever is pending in its next frame.  A
client replaying history (``?after=`` older than the window) reads from the
database at its own pace and is not cut off while it does.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

from eventdedup.db.outbox import FeedMessage

log = logging.getLogger(__name__)

#: Close code sent to a client that fell too far behind (private-use range 4000-4999).
CLOSE_LAGGING = 4008
#: A frame is closed once it holds this many messages or bytes (a single bigger
#: message still goes alone).  Well below trio-websocket's default 1 MiB limit.
MAX_FRAME_MESSAGES = 500
MAX_FRAME_BYTES = 256 * 1024
#: Rows read from the outbox per query.
FETCH_LIMIT = 500


@attrs.frozen
class Encoded:
    """A feed message with its JSON text, encoded once for every client."""

    seq: int
    type: str
    text: str

    @classmethod
    def of(cls, message: FeedMessage) -> Encoded:
        return cls(message.seq, message.type, json.dumps(message.to_json(), ensure_ascii=False))


FetchAfter = Callable[[int, int], Awaitable[list[Encoded]]]


def frame_text(texts: Sequence[str]) -> str:
    """The websocket frame for some encoded messages (docs/protocol.md)."""
    return '{"feed": [' + ", ".join(texts) + "]}"


@attrs.define(eq=False)
class Subscription:
    """One client's cursor into the feed."""

    types: frozenset[str] | None
    position: int  # the last seq this client was sent or skipped by its filter
    live: bool = False  # reading from the hub's window, so subject to the lag limit
    sending_since: float | None = None  # when the send under way began (trio's clock)
    overflowed: bool = False

    @property
    def sending(self) -> bool:
        """A send is under way."""
        return self.sending_since is not None

    def lagging(self, head: int, limit: int, now: float, stuck_after: float) -> bool:
        """Stuck in a send (under way for ``stuck_after`` seconds) while more than ``limit``
        messages have not reached the socket.  A send that is merely under way is not
        stuck: a client that reads promptly is inside one whenever a burst arrives."""
        return (
            self.live
            and self.sending_since is not None
            and now - self.sending_since >= stuck_after
            and head - self.position > limit
        )

    def wants(self, message: Encoded) -> bool:
        return self.types is None or message.type in self.types


@attrs.define(eq=False)
class FeedHub:
    """Reads the outbox once per wake-up into a window shared by every subscriber.

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
    lag_check_interval: float = 1.0
    #: seconds a send must be under way before its client counts as stuck
    stuck_after: float = 1.0
    head: int = 0
    _window: list[Encoded] = attrs.Factory(list)
    _subscribers: set[Subscription] = attrs.Factory(set)
    _wake: trio.Event = attrs.Factory(trio.Event)
    _arrived: trio.Event = attrs.Factory(trio.Event)
    _started: trio.Event = attrs.Factory(trio.Event)

    def notify(self) -> None:
        """Wake the hub: something was committed (here or, via NOTIFY, elsewhere)."""
        self._wake.set()

    @property
    def client_count(self) -> int:
        return len(self._subscribers)

    def subscribe(
        self, types: frozenset[str] | None = None, after: int | None = None
    ) -> Subscription:
        """A cursor at ``after``, or at the head: live messages come after it."""
        sub = Subscription(types, self.head if after is None else after)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def is_started(self) -> bool:
        return self._started.is_set()

    async def wait_started(self) -> None:
        await self._started.wait()

    async def run(
        self, *, initial_head: int, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        if initial_head != self.head:
            self._window.clear()  # a new starting point: the window no longer joins up
        self.head = initial_head
        self._started.set()
        task_status.started()
        next_poll = trio.current_time()
        while True:
            # Wake for commits, for the poll timer, and every lag_check_interval: a
            # client's send can get stuck at any time, not only when messages arrive.
            with trio.move_on_at(min(next_poll, trio.current_time() + self.lag_check_interval)):
                await self._wake.wait()
            if self._wake.is_set() or trio.current_time() >= next_poll:
                self._wake = trio.Event()
                await self.pump()
                interval = self.listen_poll_interval if self.listening else self.poll_interval
                next_poll = trio.current_time() + interval
            self._cut_off_laggards()

    async def pump(self) -> None:
        """Read every committed message after ``head`` into the window and wake the senders."""
        while True:
            batch = await self.fetch_after(self.head, FETCH_LIMIT)
            if not batch:
                return
            self._window.extend(batch)
            self.head = batch[-1].seq
            excess = len(self._window) - (self.queue_size + FETCH_LIMIT)
            if excess > 0:
                del self._window[:excess]
            self._cut_off_laggards()
            self._arrived.set()
            self._arrived = trio.Event()
            if len(batch) < FETCH_LIMIT:
                return

    def _cut_off_laggards(self) -> None:
        now = trio.current_time()
        for sub in list(self._subscribers):
            if sub.lagging(self.head, self.queue_size, now, self.stuck_after):
                sub.overflowed = True
                self._subscribers.discard(sub)
                log.warning(
                    "feed client fell behind; disconnecting it",
                    extra={"event": "feed.lagging", "seq": sub.position},
                )

    def window_after(self, seq: int) -> list[Encoded] | None:
        """The window's messages after ``seq``; None if some of them left it already."""
        window = self._window
        if seq >= self.head:
            return []
        if not window or window[0].seq > seq + 1:
            return None
        start = bisect.bisect_right(window, seq, key=lambda m: m.seq)
        return window[start:]


def next_frame(sub: Subscription, pending: Sequence[Encoded]) -> tuple[list[str], int]:
    """The texts of the next frame for ``sub`` and the seq it reaches.

    Messages the client filtered out are passed over (and count as reached), so a
    client that wants few types never falls behind on the others.
    """
    texts: list[str] = []
    size = 0
    reached = sub.position
    for message in pending:
        if sub.wants(message):
            if texts and (
                len(texts) >= MAX_FRAME_MESSAGES or size + len(message.text) > MAX_FRAME_BYTES
            ):
                break
            texts.append(message.text)
            size += len(message.text)
        reached = message.seq
    return texts, reached


async def stream(hub: FeedHub, sub: Subscription, send: Callable[[str], Awaitable[None]]) -> int:
    """Send everything after the cursor, replaying from the database where needed.

    ``sub`` must have been taken *before* the client was told it is connected,
    so "live" starts no later than the client thinks.  Returns the last
    sequence number sent once the client was cut off for lagging (the caller
    closes with :data:`CLOSE_LAGGING`).
    """
    try:
        while not sub.overflowed:
            arrived = hub._arrived  # taken before looking, so no wake-up is missed
            pending = hub.window_after(sub.position)
            if pending is None:  # older than the window: replay from the database
                sub.live = False
                pending = await hub.fetch_after(sub.position, FETCH_LIMIT)
            else:
                sub.live = True
            if not pending:
                await arrived.wait()
                continue
            texts, reached = next_frame(sub, pending)
            if texts:
                sub.sending_since = trio.current_time()
                await send(frame_text(texts))
                sub.sending_since = None
            sub.position = reached
        return sub.position
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
