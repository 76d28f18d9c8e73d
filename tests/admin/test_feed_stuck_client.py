"""A feed client whose socket takes no more bytes: off the feed at once, and no hang after.

Hypercorn writes to a connection in a shielded cancel scope, so a write to a
client that stopped reading (its receive buffer, then the server's send buffer
full) cannot be cancelled: without a bound on the socket, the handler and the
server's shutdown wait for that client for ever. The client here is real (a
4 KiB receive buffer, reads nothing after the handshake), the server is the
app on a real Hypercorn, the feed comes from the real outbox.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio
import trio.testing

from eventdedup.actors.feed import make_hub
from eventdedup.actors.http import http_server
from eventdedup.admin.auth import AdminToken
from eventdedup.admin.config_source import ConfigSource
from eventdedup.admin.context import AdminContext
from eventdedup.db import outbox
from eventdedup.db.engine import Database
from eventdedup.matching import load_matching_config
from eventdedup.web.app import create_app
from tests._support.auth import TOKEN
from tests._support.net import free_port
from tests._support.wait import trio_wait_until
from tests.silent_client import SilentClient

#: The send and close bound of the server under test (the daemon's: limits.SEND_TIMEOUT_SECONDS).
BOUND = 3.0
#: Hypercorn's grace for open connections at shutdown (``hypercorn_config``).
GRACEFUL = 3.0
#: Messages per commit, each about 2 KB.
CHUNK = 200
PAD = "x" * 2000


def _commit(engine: sa.Engine, n: int) -> None:
    with engine.begin() as conn:
        outbox.append(conn, [("test.padding", {"n": i, "pad": PAD}) for i in range(n)])


@pytest.mark.trio
async def test_a_client_with_a_full_socket_is_off_the_feed_at_once_and_shutdown_is_bounded(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="eventdedup.web.ws")
    db = Database.from_url(database_url)
    hub = make_hub(db, queue_size=10**9)  # no lag limit until the socket is seen full
    admin = AdminContext(
        db=db,
        hub=hub,
        token=AdminToken(TOKEN, "env"),
        config=ConfigSource(load_matching_config(None), origin="packaged defaults"),
        inbox=tmp_path / "inbox",
        dead_letters=tmp_path / "dead_letters",
    )
    app = create_app(health=lambda: (True, {}), hub=hub, admin=admin, close_timeout=BOUND)
    port = free_port()
    server = trio.CancelScope()
    stopped = trio.Event()

    async def serve(task_status: trio.TaskStatus[Any]) -> None:
        with server:
            await http_server(app, "127.0.0.1", port, send_timeout=BOUND, task_status=task_status)
        stopped.set()

    def lagging_logged() -> bool:
        return any(getattr(r, "event", None) == "feed.client_lagging" for r in caplog.records)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(functools.partial(hub.run, initial_head=0))
            await nursery.start(serve)
            silent = await trio.to_thread.run_sync(SilentClient, port, None, TOKEN)
            try:
                await trio_wait_until(lambda: hub.client_count == 1, within=15, what="subscribed")
                (sub,) = hub._subscribers
                committed = 0
                with trio.fail_after(60):
                    while True:  # feed traffic until the socket takes no more
                        await trio.to_thread.run_sync(_commit, migrated_engine, CHUNK)
                        committed += CHUNK
                        hub.notify()
                        await trio_wait_until(lambda n=committed: hub.head == n, what="pumped")
                        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
                        assert hub.client_count == 1, "dropped before its socket was seen full"
                        if sub.sending:  # every task waits, this one inside a send: it is stuck
                            break
                hub.queue_size = 20
                hub.lag_check_interval = 0.05
                hub.notify()
                await trio_wait_until(lambda: hub.client_count == 0, within=15, what="cut off")
                # off the feed while the write to it is still stuck, before any close
                assert not lagging_logged(), "the client count dropped only after the close"
                cut_off = trio.current_time()
                server.cancel()
                with trio.move_on_after(BOUND + GRACEFUL + 20) as waited:
                    await stopped.wait()
                stop_s = trio.current_time() - cut_off
            finally:
                silent.sock.close()  # frees a server stuck in a write to it: the test ends
            nursery.cancel_scope.cancel()
    finally:
        db.dispose()
    assert not waited.cancelled_caught, "the server did not stop: a write to the client hangs"
    print(
        f"socket full after {committed} messages of {len(PAD)} bytes;",
        f"server stopped {stop_s:.1f} s after the cut-off (bound {BOUND} s, grace {GRACEFUL} s)",
    )
