"""Documented limits of the HTTP/websocket surface (docs/admin.md), in one place.

Hypercorn enforces the transport ones (``eventdedup.actors.http`` reads them):
a websocket message above ``MAX_WS_MESSAGE_BYTES`` is answered with close code
1009 before the application sees it, and a connection that sends nothing —
not even a pong to the server's pings — for ``READ_TIMEOUT_SECONDS`` is
dropped, which is what frees the resources of clients that vanished without
closing (power loss, network partition). A peer that stops *reading* is dropped
after ``SEND_TIMEOUT_SECONDS`` without progress (``eventdedup.actors.http``).
"""

from __future__ import annotations

#: Largest websocket message a client may send (requests are small; 64 KiB is ample).
MAX_WS_MESSAGE_BYTES = 64 * 1024
#: The server pings every websocket client this often ...
WS_PING_INTERVAL_SECONDS = 20.0
#: ... and drops a connection that sent nothing (no frame, no pong) for this long.
READ_TIMEOUT_SECONDS = 60
#: A connection whose peer takes none of the bytes waiting for it for this long is dropped
#: (the kernel's ``TCP_USER_TIMEOUT``): a feed frame or a close to a client that stopped
#: reading cannot hold its handler, or the server's shutdown, for longer.
SEND_TIMEOUT_SECONDS = 10.0
#: A client without an Authorization header must send ``{"auth": ...}`` within this time.
AUTH_DEADLINE_SECONDS = 5.0
#: Per-connection JSON-RPC rate limit: token bucket refilled at RATE, holding BURST.
RPC_RATE_PER_SECOND = 100.0
RPC_BURST = 200.0
