"""The HTTP actor: Hypercorn serving the Quart-Trio app inside the supervisor."""

from __future__ import annotations

import socket

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from quart_trio import QuartTrio

from eventdedup.web import limits


def hypercorn_config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.graceful_timeout = 3.0
    config.websocket_ping_interval = limits.WS_PING_INTERVAL_SECONDS  # off by default
    config.read_timeout = limits.READ_TIMEOUT_SECONDS  # no pong either: the client is gone
    config.websocket_max_message_size = limits.MAX_WS_MESSAGE_BYTES  # larger: close 1009
    config.accesslog = None
    config.errorlog = "-"
    return config


def listening_sockets(config: Config, send_timeout: float) -> Sockets:
    """Hypercorn's sockets for ``config.bind``, listening, each write bounded by ``send_timeout``.

    Hypercorn writes to a connection in a shielded cancel scope, so no timeout or
    cancellation of ours can end a write to a peer that stopped reading: its handler,
    and the server's shutdown, would wait for it for ever. ``TCP_USER_TIMEOUT`` (Linux;
    accepted connections inherit it from the listening socket) makes the kernel abort
    a connection whose peer has taken none of the bytes waiting for it for
    ``send_timeout`` seconds; the write then fails and Hypercorn closes the connection.
    Where the option does not exist, writes stay unbounded.
    """
    sockets = config.create_sockets()
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", None)
    every = [*sockets.secure_sockets, *sockets.insecure_sockets]
    try:
        for sock in every:
            if user_timeout is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
                ms = max(1, round(send_timeout * 1000))
                sock.setsockopt(socket.IPPROTO_TCP, user_timeout, ms)
            sock.listen(config.backlog)
    except BaseException:  # bound but not served: free the port for the restart
        for sock in every:
            sock.close()
        raise
    return sockets


async def http_server(
    app: QuartTrio,
    host: str,
    port: int,
    *,
    send_timeout: float = limits.SEND_TIMEOUT_SECONDS,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: serve until cancelled; ready once the socket is listening.

    Hypercorn reports readiness with the bound addresses, which the supervisor
    passes on (tests bind port 0 and read the real port from there).
    ``send_timeout``: see :func:`listening_sockets`.
    """
    config = hypercorn_config(host, port)
    sockets = listening_sockets(config, send_timeout)
    try:
        await worker_serve(
            wrap_app(app, config.wsgi_max_body_size, None),
            config,
            sockets=sockets,
            task_status=task_status,
        )
    finally:  # also when Hypercorn failed before it took them over: a restart binds again
        for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
            sock.close()
