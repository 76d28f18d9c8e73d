"""A websocket client that authenticates and then never reads (a stuck consumer).

A raw socket with a tiny receive buffer, so the server's sends block once the
kernel buffers between the two are full, as with a real consumer that hangs.
"""

from __future__ import annotations

import json
import socket

import wsproto
import wsproto.events

from eventdedup.client import feed_messages
from tests._support.auth import ws_auth


class SilentClient:
    def __init__(self, port: int, after: int | None, token: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
        target = "/ws" if after is None else f"/ws?after={after}"
        request = wsproto.events.Request(
            host=f"127.0.0.1:{port}",
            target=target,
            extra_headers=ws_auth(token),
        )
        self.sock.sendall(self.ws.send(request))
        self.frames: list[str] = []
        self._partial = ""
        self.accepted = False
        while not self.accepted:  # the handshake answer only; then stop reading
            self._feed(self.sock.recv(1))

    @property
    def seqs(self) -> list[int]:
        """The sequence numbers of the feed messages received so far."""
        return [m["seq"] for frame in self.frames for m in feed_messages(json.loads(frame))]

    def _feed(self, data: bytes) -> wsproto.events.CloseConnection | None:
        self.ws.receive_data(data or None)
        for event in self.ws.events():
            if isinstance(event, wsproto.events.AcceptConnection):
                self.accepted = True
            elif isinstance(event, wsproto.events.TextMessage):
                self._partial += event.data
                if event.message_finished:
                    self.frames.append(self._partial)
                    self._partial = ""
            elif isinstance(event, wsproto.events.CloseConnection):
                return event
        return None

    def read_until_closed(self) -> wsproto.events.CloseConnection:
        """Start reading at last: what was queued for us, then the close frame."""
        for _ in range(1_000_000):
            close = self._feed(self.sock.recv(65536))
            if close is not None:
                self.sock.close()
                return close
        raise AssertionError("no close frame")
