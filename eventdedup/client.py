"""Websocket client of the daemon's feed (``eventdedup feed``; the TUI reuses it).

It remembers the last sequence number it saw and, after a disconnect,
reconnects with backoff and resumes with ``?after=`` so nothing is missed or
repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

log = logging.getLogger(__name__)


def feed_url(base: str, after: int | None, types: Sequence[str] = ()) -> str:
    parts = urlsplit(base)
    query = {}
    if after is not None:
        query["after"] = str(after)
    if types:
        query["types"] = ",".join(types)
    return urlunsplit(parts._replace(query=urlencode(query)))


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
        """Yield feed messages forever (or until the server closes, if not reconnecting)."""
        delay = self.backoff_initial
        while True:
            try:
                url = feed_url(self.url, self.after, self.types)
                async with open_websocket_url(url, extra_headers=self._headers()) as ws:
                    self.connected, delay = True, self.backoff_initial
                    while True:
                        message = json.loads(await ws.get_message())
                        if "seq" in message:
                            if self.after is not None and message["seq"] <= self.after:
                                continue
                            self.after = message["seq"]
                        yield message
            except (ConnectionClosed, HandshakeError, OSError) as exc:
                self.connected = False
                if not self.reconnect:
                    return
                log.info("feed disconnected (%s); reconnecting in %.1fs", exc, delay)
                await trio.sleep(delay)
                delay = min(self.backoff_max, delay * 2)
