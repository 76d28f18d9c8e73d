"""A backend with canned answers: snapshots, screenshots and demos without a daemon.

Snapshot tests need the screen to be the same on every run, which a live
daemon (timestamps, ids, timing) can never promise; the fake hands the app
exactly the feed messages and RPC results it is given, synchronously.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from eventdedup.client import ClientError, ConnectionState, RpcError
from tui.backend import Sink

#: A canned answer: a value, an exception to raise, or a function of the params.
Answer = Any | BaseException | Callable[[dict[str, Any]], Any]


class FakeBackend:
    """Records calls and answers them from ``results`` (unknown method: -32601)."""

    def __init__(
        self,
        results: Mapping[str, Answer] | None = None,
        feed: Iterable[dict[str, Any]] = (),
        *,
        connected: bool = True,
        url: str = "ws://127.0.0.1:8080/ws",
    ) -> None:
        self.url = url
        self.results: dict[str, Answer] = dict(results or {})
        self.initial_feed = list(feed)
        self.connected = connected
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.sink: Sink | None = None

    def start(self, sink: Sink) -> None:
        self.sink = sink
        last = max((m["seq"] for m in self.initial_feed if "seq" in m), default=None)
        if self.connected:
            sink.connection_changed(ConnectionState(self.url, True, last_seq=last))
        else:
            sink.connection_changed(
                ConnectionState(
                    self.url,
                    False,
                    attempt=3,
                    retry_in=1.6,
                    error="ConnectionRefusedError",
                    last_seq=last,
                )
            )
        if self.initial_feed:
            sink.feed_received(list(self.initial_feed))

    def stop(self) -> None:
        self.sink = None

    def push(self, *messages: dict[str, Any]) -> None:
        """Deliver more feed messages, as the daemon would."""
        if self.sink is not None:
            self.sink.feed_received(list(messages))

    def set_state(self, state: ConnectionState) -> None:
        self.connected = state.connected
        if self.sink is not None:
            self.sink.connection_changed(state)

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        args = dict(params or {})
        self.calls.append((method, args))
        if not self.connected:
            raise ClientError("not connected")
        answer = self.results.get(method, RpcError(-32601, f"Method not found: {method}"))
        if isinstance(answer, BaseException):
            raise answer
        if callable(answer):
            answer = answer(args)
        return copy.deepcopy(answer)

    async def health(self) -> dict[str, Any]:
        answer: Any = self.results.get("health")  # a /health body; not raised or called
        if answer is None:
            raise ClientError("no /health")
        return copy.deepcopy(answer)
