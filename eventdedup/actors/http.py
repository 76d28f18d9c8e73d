"""The HTTP actor: Hypercorn serving the Quart-Trio app inside the supervisor."""

from __future__ import annotations

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
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


async def http_server(
    app: QuartTrio,
    host: str,
    port: int,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Actor: serve until cancelled; ready once the socket is listening.

    Hypercorn reports readiness with the bound addresses, which the supervisor
    passes on (tests bind port 0 and read the real port from there).
    """
    await serve(app, hypercorn_config(host, port), task_status=task_status)
