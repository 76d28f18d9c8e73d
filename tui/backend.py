"""The app's view of a daemon connection, and the real one.

Textual runs on asyncio; the network client is trio (trio-websocket, shared
with ``eventdedup feed``).  Rather than port the client, :class:`ThreadedBackend`
runs it under its own ``trio.run`` in a thread and crosses over in both
directions without ever blocking the UI:

* feed messages and connection changes go to the app with ``post_message``
  (thread-safe, never waits for the UI), batched so a replay of thousands of
  messages costs a handful of table updates;
* :meth:`ThreadedBackend.call` is awaited on the asyncio side: it schedules
  the RPC in the trio thread and returns an asyncio future that the trio task
  completes with ``loop.call_soon_threadsafe``.  A slow daemon therefore only
  delays the worker that awaits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import trio

from eventdedup.client import ClientError, ConnectionState, DaemonClient

log = logging.getLogger(__name__)

#: Most feed messages handed to the UI in one batch.
BATCH_MAX = 500


class Sink(Protocol):
    """Where a backend delivers what it hears (the app; both must be thread-safe)."""

    def feed_received(self, messages: list[dict[str, Any]]) -> None: ...

    def connection_changed(self, state: ConnectionState) -> None: ...


class Backend(Protocol):
    """What the console needs from a daemon: a feed, RPC calls, and /health."""

    url: str

    def start(self, sink: Sink) -> None: ...

    def stop(self) -> None: ...

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any: ...

    async def health(self) -> dict[str, Any]: ...


def health_url(ws_url: str) -> str:
    """``ws://h:p/ws`` → ``http://h:p/health`` (the daemon serves both on one port)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    return urlunsplit((scheme, parts.netloc, "/health", "", ""))


def _get_health(url: str, timeout: float) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 still carries the report
        return json.loads(exc.read())


class ThreadedBackend:
    """A :class:`DaemonClient` running in a trio thread beside the Textual app."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        request_timeout: float = 10.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 10.0,
        after: int | None = None,
    ) -> None:
        self.url = url
        self.client = DaemonClient(
            url,
            token=token,
            after=after,
            request_timeout=request_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            on_state=self._on_state,
        )
        self._sink: Sink | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._trio_token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stopping: trio.Event | None = None

    def start(self, sink: Sink) -> None:
        self._sink = sink
        self._thread = threading.Thread(
            target=trio.run, args=(self._main,), name="eventdedup-client", daemon=True
        )
        self._thread.start()
        self._ready.wait(5.0)

    def stop(self) -> None:
        if self._trio_token is not None and self._stopping is not None:
            with contextlib.suppress(trio.RunFinishedError, RuntimeError):
                trio.from_thread.run_sync(self._stopping.set, trio_token=self._trio_token)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    async def _main(self) -> None:
        self._trio_token = trio.lowlevel.current_trio_token()
        self._stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.client.run)
            nursery.start_soon(self._forward)
            self._ready.set()
            await self._stopping.wait()
            nursery.cancel_scope.cancel()

    def _on_state(self, state: ConnectionState) -> None:
        if self._sink is not None:
            self._sink.connection_changed(state)

    async def _forward(self) -> None:
        async for message in self.client.feed:
            batch = [message]
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self.client.feed.receive_nowait())
                except trio.WouldBlock:
                    break
            if self._sink is not None:
                self._sink.feed_received(batch)
            await trio.sleep(0.02)  # let a burst pile up into the next batch

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run one RPC in the trio thread; await its result here (asyncio)."""
        if self._nursery is None or self._trio_token is None:
            raise ClientError("client not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()

        def settle(result: Any, error: BaseException | None) -> None:
            if future.done():  # the awaiting worker was cancelled meanwhile
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        async def run_call() -> None:
            result, error = None, None
            try:
                result = await self.client.call(method, params)
            except Exception as exc:  # handed to the awaiting side, never lost
                error = exc
            with contextlib.suppress(RuntimeError):  # RuntimeError: the app's loop is gone
                loop.call_soon_threadsafe(settle, result, error)

        nursery = self._nursery
        trio.from_thread.run_sync(nursery.start_soon, run_call, trio_token=self._trio_token)
        return await future

    async def health(self) -> dict[str, Any]:
        """``GET /health`` (no token needed): actors even from a daemon without RPC."""
        return await asyncio.to_thread(_get_health, health_url(self.url), 5.0)
