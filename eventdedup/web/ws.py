"""``WS /ws``: the live feed and JSON-RPC admin commands on one connection.

Two tasks share the connection: one streams the feed (replay from ``after``,
then live), one reads frames and answers JSON-RPC requests in order.  Their
sends go through one lock, so frames never interleave mid-write.  The feed
side never waits for the client's *requests*, and the request side never
waits for the feed: a slow command does not stall the feed, and a flood of
requests is throttled by the client's own token bucket.

Authentication happens before anything else: a valid ``Authorization:
Bearer`` header, or — for clients that cannot set headers — a first frame
``{"auth": "<token>"}`` within a short deadline.  Anything else is closed with
4401 and no detail.  Subscribing to the hub happens only after that, so an
unauthenticated client never holds a feed queue.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import trio
from quart import websocket

from eventdedup.admin.context import AdminContext
from eventdedup.admin.rpc import Caller, Dispatcher, TokenBucket
from eventdedup.feedhub import CLOSE_LAGGING, parse_after, parse_types, stream
from eventdedup.web.limits import SEND_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

#: How long a close may wait to be sent (behind another write to a peer that stopped
#: reading); the write itself is bounded by the socket (``SEND_TIMEOUT_SECONDS``).
CLOSE_TIMEOUT = SEND_TIMEOUT_SECONDS
CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_QUERY = 1008

_connection_ids = itertools.count(1)


def _auth_frame_token(frame: str | bytes) -> str | None:
    """The token of a ``{"auth": "<token>"}`` frame, else None."""
    try:
        payload = json.loads(frame)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict) and set(payload) == {"auth"} and isinstance(payload["auth"], str):
        return payload["auth"]
    return None


async def _close(code: int, reason: str = "", *, within: float) -> None:
    try:
        with trio.move_on_after(within) as waited:
            await websocket.close(code, reason)
        if waited.cancelled_caught:
            log.info("close %s not taken by the peer within %s s; dropping it", code, within)
    except Exception:  # the peer may be gone already; nothing left to tell it
        log.debug("close %s failed", code, exc_info=True)


async def _authenticate(ctx: AdminContext, peer: str, close_timeout: float) -> bool:
    """Header or first frame; on failure the connection is accepted and closed 4401."""
    header = websocket.headers.get("Authorization")
    if header is not None:
        if ctx.token.matches_header(header):
            return True
        how = "header"
        await websocket.accept()
    else:
        await websocket.accept()
        frame: str | bytes | None = None
        with trio.move_on_after(ctx.auth_deadline):
            frame = await websocket.receive()
        if frame is not None and ctx.token.matches(_auth_frame_token(frame)):
            return True
        how = "no credentials" if frame is None else "first frame"
    ctx.metrics.auth_failures.labels("websocket").inc()
    log.warning(
        "websocket authentication failed (%s) from %s",
        how,
        peer,
        extra={"event": "auth.failed", "surface": "websocket", "peer": peer, "how": how},
    )
    await _close(CLOSE_UNAUTHORIZED, within=close_timeout)
    return False


async def serve_ws(
    ctx: AdminContext, dispatcher: Dispatcher, *, close_timeout: float = CLOSE_TIMEOUT
) -> None:
    """The whole life of one websocket connection; a close waits at most ``close_timeout``."""
    hub = ctx.hub
    peer = str(websocket.headers.get("Remote-Addr", "?"))
    header_auth = websocket.headers.get("Authorization") is not None
    if not await _authenticate(ctx, peer, close_timeout):
        return
    try:
        after = parse_after(websocket.args.get("after"))
    except ValueError:
        if header_auth:
            await websocket.accept()
        await _close(CLOSE_BAD_QUERY, "after must be a non-negative integer", within=close_timeout)
        return
    types = parse_types(websocket.args.get("types"))
    await hub.wait_started()
    # Subscribe before the client learns it is connected (header auth: before the
    # handshake completes), so "live" starts no later than the client thinks.
    sub = hub.subscribe(types, after)
    try:
        if header_auth:
            await websocket.accept()
        lock = trio.Lock()

        async def send_text(text: str) -> None:
            async with lock:
                await websocket.send(text)

        caller = Caller(peer=peer, connection=next(_connection_ids))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_answer_requests, ctx, dispatcher, caller, send_text)
            last = await stream(hub, sub, send_text)
            nursery.cancel_scope.cancel()  # lagging: stop answering, tell it where to resume
        log.info(
            "feed client lagging; closing it",
            extra={"event": "feed.client_lagging", "peer": peer, "last_seq": last},
        )
        hub.unsubscribe(sub)  # off the feed now: the close may wait for a peer that does not read
        await _close(CLOSE_LAGGING, f"lagging; resume with after={last}", within=close_timeout)
    finally:
        hub.unsubscribe(sub)


async def _answer_requests(
    ctx: AdminContext, dispatcher: Dispatcher, caller: Caller, send_text: Any
) -> None:
    """Read frames forever; answer each (in order) without ever raising on bad input."""
    bucket = TokenBucket(rate=ctx.rpc_rate, burst=ctx.rpc_burst)
    while True:
        frame = await websocket.receive()
        reply = await dispatcher.handle_frame(frame, caller, bucket)
        if reply is not None:
            await send_text(reply)
