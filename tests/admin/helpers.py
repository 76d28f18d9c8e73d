"""Helpers for the admin-surface tests: a JSON-RPC session over the real websocket."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from eventdedup.client import feed_messages
from eventdedup.config import Settings
from tests._support.auth import admin_token, ws_auth
from tests.daemon.harness import ws_url


class Session:
    """One websocket: JSON-RPC calls, with the feed messages that arrive meanwhile kept."""

    def __init__(self, ws: WebSocketConnection) -> None:
        self.ws = ws
        self.feed: list[dict[str, Any]] = []
        self.responses: dict[Any, dict[str, Any]] = {}
        self._next = 0

    async def _receive(self) -> dict[str, Any]:
        message = json.loads(await self.ws.get_message())
        self.feed.extend(feed_messages(message))
        return message

    async def send(self, payload: Any) -> None:
        await self.ws.send_message(payload if isinstance(payload, str) else json.dumps(payload))

    async def response(self, request_id: Any, wait: float = 60) -> dict[str, Any]:
        with trio.fail_after(wait):
            while request_id not in self.responses:
                message = await self._receive()
                if isinstance(message, dict) and "jsonrpc" in message:
                    self.responses[message.get("id")] = message
        return self.responses.pop(request_id)

    async def raw(self, method: str, params: Any = None, wait: float = 60) -> dict[str, Any]:
        self._next += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            request["params"] = params
        await self.send(request)
        return await self.response(self._next, wait)

    async def call(self, method: str, params: Any = None, wait: float = 60) -> Any:
        reply = await self.raw(method, params, wait)
        assert "result" in reply, f"{method} {params}: {reply}"
        return reply["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        reply = await self.raw(method, params)
        assert "error" in reply, f"{method} {params} should fail: {reply}"
        return reply["error"]

    async def message(
        self, type_: str, wait: float = 30, after: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first feed message after ``after`` (received or next) of ``type_`` matching."""

        def hit(m: dict[str, Any]) -> bool:
            return (
                m["seq"] > after
                and m["type"] == type_
                and all(m["data"].get(k) == v for k, v in match.items())
            )

        for m in self.feed:
            if hit(m):
                return m
        with trio.fail_after(wait):
            while True:
                for m in feed_messages(await self._receive()):
                    if hit(m):
                        return m

    def types(self, after: int = 0) -> list[str]:
        return [m["type"] for m in self.feed if m["seq"] > after]


@asynccontextmanager
async def session(settings: Settings, query: str = "") -> AsyncIterator[Session]:
    async with open_websocket_url(
        ws_url(settings, query),
        extra_headers=ws_auth(admin_token(settings)),
        message_queue_size=10_000,
    ) as ws:
        yield Session(ws)


def write_events(
    source: Path,
    inbox: Path,
    name: str,
    *,
    prefix: str = "",
    only: Sequence[str] | None = None,
    limit: int | None = None,
) -> Path:
    """A file made of ``source``'s events (optionally renamed by ``prefix``), dropped atomically.

    A renamed copy is a *later file from another source* describing the same
    events: it matches what is stored and so re-links clusters.
    """
    data = json.loads(source.read_text())
    events = data["events"]
    if only is not None:
        events = [e for e in events if e["id"] in set(only)]
    if limit is not None:
        events = events[:limit]
    for e in events:
        e["id"] = prefix + e["id"]
    data["events"] = events
    data["metadata"] = {**data.get("metadata", {}), "eventCount": len(events)}
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(json.dumps(data, ensure_ascii=False))
    os.replace(tmp, inbox / name)
    return inbox / name
