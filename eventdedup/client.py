"""Websocket clients of the daemon (``/ws``, see docs/protocol.md).

* :class:`FeedClient` only reads the feed (``eventdedup feed``);
* :class:`DaemonClient` carries the feed and JSON-RPC admin calls on one
  connection (``eventdedup tui``).

Both remember the last sequence number they saw and, after a disconnect,
reconnect with backoff and resume with ``?after=`` so nothing is missed or
repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

log = logging.getLogger(__name__)


def feed_url(base: str, after: int | None, types: Sequence[str] = ()) -> str:
    parts = urlsplit(base)
    query = {}
    if after is not None:
        query["after"] = str(after)
    if types:
        query["types"] = ",".join(types)
    return urlunsplit(parts._replace(query=urlencode(query)))


def feed_messages(frame: Any) -> list[dict[str, Any]]:
    """The feed messages of one decoded server frame (none for a JSON-RPC answer).

    The server sends feed messages as ``{"feed": [message, ...]}``, in order;
    a bare message object is accepted too.
    """
    if not isinstance(frame, dict) or "jsonrpc" in frame:
        return []
    batch = frame.get("feed")
    if isinstance(batch, list):
        return [m for m in batch if isinstance(m, dict)]
    return [frame] if "seq" in frame else []


class Unauthorized(Exception):
    """The daemon rejected the token (close 4401 or HTTP 401/403): retrying cannot help."""


def _rejected(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionClosed):
        return getattr(exc.reason, "code", None) == 4401
    return isinstance(exc, HandshakeError) and getattr(exc, "status_code", None) in (401, 403)


@attrs.define
class FeedClient:
    url: str
    token: str | None = None
    after: int | None = None
    types: Sequence[str] = ()
    reconnect: bool = True
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    connected: bool = False

    def _headers(self) -> list[tuple[bytes, bytes]]:
        if not self.token:
            return []
        return [(b"authorization", f"Bearer {self.token}".encode())]

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        """Yield feed messages forever (or until the server closes, if not reconnecting).

        Raises :class:`Unauthorized` when the token is rejected instead of retrying.
        """
        delay = self.backoff_initial
        while True:
            try:
                url = feed_url(self.url, self.after, self.types)
                async with open_websocket_url(url, extra_headers=self._headers()) as ws:
                    self.connected, delay = True, self.backoff_initial
                    while True:
                        for message in feed_messages(json.loads(await ws.get_message())):
                            if self.after is not None and message["seq"] <= self.after:
                                continue
                            self.after = message["seq"]
                            yield message
            except (ConnectionClosed, HandshakeError, OSError) as exc:
                self.connected = False
                if _rejected(exc):
                    raise Unauthorized(f"{self.url}: the daemon rejected the admin token") from None
                if not self.reconnect:
                    return
                log.info("feed disconnected (%s); reconnecting in %.1fs", exc, delay)
                await trio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)


# --------------------------------------------------------------------------------------
# DaemonClient: one connection carrying the feed and JSON-RPC 2.0 admin calls.
# --------------------------------------------------------------------------------------

#: Close codes of docs/protocol.md that change how the client reconnects.
CLOSE_UNAUTHORIZED = 4401
CLOSE_LAGGING = 4008


class ClientError(Exception):
    """Anything a caller of :meth:`DaemonClient.call` must be ready for."""


class RpcError(ClientError):
    """The daemon answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class RpcTimeout(ClientError):
    """No answer in time: the daemon may be slow, or may not know RPC at all."""


class NotConnected(ClientError):
    """The connection dropped before an answer came.

    A mutating command may or may not have been applied; callers must not
    resend it blindly (the feed tells what happened).
    """


@attrs.frozen
class ConnectionState:
    """What the connection is doing, for a banner: reported on every change."""

    url: str
    connected: bool
    attempt: int = 0
    retry_in: float | None = None
    error: str | None = None
    close_code: int | None = None
    last_seq: int | None = None

    @property
    def unauthorized(self) -> bool:
        return self.close_code == CLOSE_UNAUTHORIZED


@attrs.define(eq=False)
class _Pending:
    event: trio.Event = attrs.Factory(trio.Event)
    response: dict[str, Any] | None = None
    error: ClientError | None = None


def _describe(exc: BaseException) -> tuple[str, int | None]:
    """A short reason for a lost connection and its close code, if the server gave one."""
    if isinstance(exc, ConnectionClosed):
        reason = exc.reason
        code = getattr(reason, "code", None)
        text = getattr(reason, "reason", None) or getattr(reason, "name", "") or ""
        return f"closed {code}{': ' + text if text else ''}", code
    status = getattr(exc, "status_code", None)
    if isinstance(exc, HandshakeError) and status is not None:
        return f"handshake rejected: HTTP {status}", CLOSE_UNAUTHORIZED if status in (
            401,
            403,
        ) else None
    return f"{type(exc).__name__}: {exc}".rstrip(": "), None


@attrs.define(eq=False)
class DaemonClient:
    """Feed plus JSON-RPC over one websocket, reconnecting by itself.

    Why one connection: the protocol puts both on ``/ws``, and an operator's
    action and the feed message announcing its effect then arrive in the
    order the daemon produced them.

    * feed messages land in :attr:`feed` (a bounded trio channel, so a stalled
      consumer slows the reader instead of growing memory); a message whose
      ``seq`` was already seen is dropped, and every reconnect asks for
      ``?after=<last seq>`` so nothing is missed or shown twice;
    * :meth:`call` sends a request with a fresh id and waits for the response
      with that id (or :class:`RpcTimeout`); a call made while disconnected
      waits for the next connection within the same timeout;
    * :attr:`on_state` hears about every connect/disconnect (for a banner).

    Run it with ``async with client.open():`` or start :meth:`run` in a nursery.
    """

    url: str
    token: str | None = None
    after: int | None = None
    types: Sequence[str] = ()
    reconnect: bool = True
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    feed_buffer: int = 10_000
    on_state: Callable[[ConnectionState], None] | None = None
    connected: bool = False
    _ws: WebSocketConnection | None = attrs.field(default=None, init=False)
    _next_id: int = attrs.field(default=0, init=False)
    _pending: dict[int, _Pending] = attrs.field(factory=dict, init=False)
    _up: trio.Event = attrs.field(factory=trio.Event, init=False)
    _feed_send: trio.MemorySendChannel[dict[str, Any]] = attrs.field(init=False)
    feed: trio.MemoryReceiveChannel[dict[str, Any]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._feed_send, self.feed = trio.open_memory_channel[dict[str, Any]](self.feed_buffer)

    def _headers(self) -> list[tuple[bytes, bytes]]:
        if not self.token:
            return []
        return [(b"authorization", f"Bearer {self.token}".encode())]

    def _report(self, state: ConnectionState) -> None:
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:  # a broken listener must not kill the connection
                log.exception("connection state listener failed")

    @asynccontextmanager
    async def open(self) -> AsyncIterator[DaemonClient]:
        """Run the connection in the background for the duration of the block."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.run)
            try:
                yield self
            finally:
                nursery.cancel_scope.cancel()

    async def run(self) -> None:
        """Connect, read, and reconnect with exponential backoff until cancelled."""
        delay, attempt = self.backoff_initial, 0
        while True:
            url = feed_url(self.url, self.after, self.types)
            error, code = "", None
            try:
                async with open_websocket_url(
                    url,
                    extra_headers=self._headers(),
                    connect_timeout=self.connect_timeout,
                    disconnect_timeout=1.0,
                ) as ws:
                    self._ws, self.connected = ws, True
                    delay, attempt = self.backoff_initial, 0
                    self._up.set()
                    self._report(ConnectionState(self.url, True, last_seq=self.after))
                    await self._read(ws)
            except (ConnectionClosed, HandshakeError, OSError, trio.TooSlowError) as exc:
                error, code = _describe(exc)
            finally:
                self._lost()
            if not self.reconnect:
                self._report(
                    ConnectionState(self.url, False, attempt, None, error, code, self.after)
                )
                return
            attempt += 1
            wait = 0.0 if code == CLOSE_LAGGING else delay
            log.info("daemon connection lost (%s); reconnecting in %.1fs", error, wait)
            self._report(ConnectionState(self.url, False, attempt, wait, error, code, self.after))
            await trio.sleep(wait)
            if code != CLOSE_LAGGING:
                delay = min(self.backoff_max, delay * 2)

    def _lost(self) -> None:
        self._ws, self.connected = None, False
        if self._up.is_set():
            self._up = trio.Event()
        for pending in self._pending.values():
            pending.error = NotConnected("connection lost before the daemon answered")
            pending.event.set()

    async def _read(self, ws: WebSocketConnection) -> None:
        while True:
            raw = await ws.get_message()
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("ignoring a frame that is not JSON")
                continue
            if not isinstance(message, dict):
                continue
            if "jsonrpc" in message:
                self._resolve(message)
                continue
            for item in feed_messages(message):
                seq = item.get("seq")
                if isinstance(seq, int):
                    if self.after is not None and seq <= self.after:
                        continue
                    self.after = seq
                await self._feed_send.send(item)

    def _resolve(self, response: dict[str, Any]) -> None:
        request_id = response.get("id")
        pending = self._pending.get(request_id) if isinstance(request_id, int) else None
        if pending is None:  # answer to a call that already timed out, or a notification
            return
        pending.response = response
        pending.event.set()

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        time_limit: float | None = None,
    ) -> Any:
        """Send one request and return its ``result``.

        Raises :class:`RpcError` (the daemon said no), :class:`RpcTimeout` and
        :class:`NotConnected`.
        """
        limit = self.request_timeout if time_limit is None else time_limit
        self._next_id += 1
        request_id, pending = self._next_id, _Pending()
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params:
            request["params"] = dict(params)
        with trio.move_on_after(limit) as scope:
            await self._up.wait()
            ws = self._ws
            if ws is None:
                raise NotConnected("not connected")
            self._pending[request_id] = pending
            try:
                try:
                    await ws.send_message(json.dumps(request, ensure_ascii=False))
                except ConnectionClosed:
                    raise NotConnected("connection lost while sending") from None
                await pending.event.wait()
            finally:
                self._pending.pop(request_id, None)
        if scope.cancelled_caught:
            state = "connected" if self.connected else "not connected"
            raise RpcTimeout(f"{method}: no answer within {limit:g}s ({state})")
        if pending.error is not None:
            raise pending.error
        response = pending.response or {}
        if "error" in response:
            err = response["error"] if isinstance(response["error"], dict) else {}
            raise RpcError(
                int(err.get("code", -32000)), str(err.get("message", "error")), err.get("data")
            )
        return response.get("result")
