"""The feed across replicas (LISTEN/NOTIFY), resume, backpressure and dead-client detection."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

import eventdedup.actors.http as http_actor
from eventdedup.actors.feed import LISTENER_NAME
from eventdedup.client import feed_messages
from tests._support.auth import TOKEN, ws_auth
from tests._support.db import scalar
from tests._support.wait import trio_wait_until
from tests.admin.helpers import Session, session
from tests.daemon.harness import drop_file, make_settings, running_daemon, ws_url
from tests.reliability._daemon import drop_json, make_event, make_file
from tests.silent_client import SilentClient


def _seqs(s: Session) -> list[int]:
    return [m["seq"] for m in s.feed]


@pytest.mark.trio
async def test_two_replicas_one_feed_exactly_once_and_resume_across_them(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    corpus_files: list[Path],
) -> None:
    # same database, same inbox/archive/dead letters; only the port differs
    settings_a = make_settings(tmp_path, database_url, admin_token=TOKEN)
    settings_b = make_settings(tmp_path, database_url, admin_token=TOKEN)
    files = corpus_files[3:6]
    async with running_daemon(settings_a) as a, running_daemon(settings_b) as b:
        assert a.admin and b.admin and a.files and b.files
        a.files.replica, b.files.replica = "replica-a", "replica-b"
        hub_a, hub_b = a.admin.hub, b.admin.hub
        # only NOTIFY (or the daemon's own commits) can wake the hubs quickly now
        hub_a.listen_poll_interval = hub_b.listen_poll_interval = 300.0
        await trio_wait_until(lambda: hub_a.listening and hub_b.listening, within=15)

        async with session(settings_a, "after=0") as on_a, session(settings_b, "after=0") as on_b:
            # a commit made on B reaches A's client through NOTIFY: the hubs' timer is
            # 300 s, so a message within 60 s (generous for a busy machine) was NOTIFY's
            await on_b.call("config.set", {"matching": {"thresholds": {"high": 0.76}}})
            await on_a.message("config.changed", wait=60)

            for f in files:
                drop_file(f, settings_a.event_data_dir)

            # a third client reads part of the feed from A and is cut off without a close
            # handshake; it resumes from B later with ?after=
            first_part: list[int] = []
            with contextlib.suppress(
                ConnectionClosed, trio.BrokenResourceError, trio.ClosedResourceError
            ):
                async with open_websocket_url(
                    ws_url(settings_a, "after=0"), extra_headers=ws_auth()
                ) as ws:
                    with trio.fail_after(60):
                        while len(first_part) < 60:
                            first_part.extend(
                                m["seq"] for m in feed_messages(json.loads(await ws.get_message()))
                            )
                    await ws._stream.aclose()  # forced disconnect: TCP gone, no close frame

            for f in files:
                await on_a.message("file.processed", file=f.name, wait=120)
            await on_b.message("file.processed", file=files[-1].name, wait=60)
            head = _seqs(on_a)[-1]

            resumed: list[int] = []
            async with open_websocket_url(
                ws_url(settings_b, f"after={first_part[-1]}"), extra_headers=ws_auth()
            ) as ws:
                with trio.fail_after(60):
                    while not resumed or resumed[-1] < head:
                        resumed.extend(
                            m["seq"] for m in feed_messages(json.loads(await ws.get_message()))
                        )

            # the listener connection drops: the hub polls meanwhile and reconnects
            hub_a.poll_interval = 0.5
            killed = scalar(
                migrated_engine,
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name",
                name=LISTENER_NAME,
            )
            assert killed == 2
            mark = _seqs(on_a)[-1]
            await on_b.call("config.set", {"matching": {"thresholds": {"high": 0.77}}})
            await on_a.message("config.changed", after=mark, wait=10)
            await trio_wait_until(lambda: hub_a.listening and hub_b.listening, within=30)
            status = await on_a.call("status")
            assert status["feed"]["listening"] is True
            await on_b.message("config.changed", after=mark, wait=10)

    seqs_a, seqs_b = _seqs(on_a), _seqs(on_b)
    assert seqs_a == list(range(1, seqs_a[-1] + 1)), "gap or duplicate on replica A"
    assert seqs_b == list(range(1, seqs_b[-1] + 1)), "gap or duplicate on replica B"
    assert [m["type"] for m in on_a.feed] == [m["type"] for m in on_b.feed]
    # the resumed read stops at the first batch reaching ``head``; later messages (a
    # resolver's, say) may ride in that batch: every seq once, in order, is the claim
    assert resumed[-1] >= head
    assert first_part + resumed == list(range(1, resumed[-1] + 1)), "resume lost or repeated"

    processed = Counter(m["data"]["file"] for m in on_a.feed if m["type"] == "file.processed")
    assert processed == Counter({f.name: 1 for f in files})
    with migrated_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT filename, replica, state FROM file_ingestions")).all()
    assert sorted(r.filename for r in rows) == sorted(f.name for f in files)
    assert {r.state for r in rows} == {"completed"}
    assert {r.replica for r in rows} <= {"replica-a", "replica-b"}
    print("processed by:", {r.filename: r.replica for r in rows})


#: Events per file in the stalled-client test: each becomes a ``canonical.created``, enough
#: messages to fill the kernel buffers of a client that stopped reading (~200 KB here).
BURST = 2000


def _burst(key: str) -> dict[str, Any]:
    return make_file([make_event(key, i) for i in range(BURST)])


@pytest.mark.trio
async def test_a_client_that_never_reads_is_cut_off_without_slowing_anything(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    async with running_daemon(settings) as daemon, session(settings) as fast:
        assert daemon.admin
        hub = daemon.admin.hub
        drop_json(settings.event_data_dir, "bwb_baseline_01.03.2026.json", _burst("base"))
        baseline = await fast.message(
            "file.processed", file="bwb_baseline_01.03.2026.json", wait=90
        )

        hub.queue_size = 50  # a small lag limit: the burst is far beyond it
        silent = await trio.to_thread.run_sync(SilentClient, settings.http_port, None, TOKEN)
        await trio_wait_until(lambda: hub.client_count == 2, within=15)
        drop_json(settings.event_data_dir, "bwb_stalled_01.03.2026.json", _burst("stall"))
        stalled = await fast.message("file.processed", file="bwb_stalled_01.03.2026.json", wait=90)
        await trio_wait_until(lambda: hub.client_count == 1, within=15)
        # only now does the silent client read: the frames it was sent, then 4008
        close = await trio.to_thread.run_sync(silent.read_until_closed)
        received = silent.seqs
        assert close.code == 4008
        assert close.reason == f"lagging; resume with after={received[-1]}"
        assert received, "it was sent what its socket took before it got stuck"
        assert received[0] > baseline["seq"], "live: it started at the head"
        assert received == list(range(received[0], received[-1] + 1)), "gap-free"
        assert received[-1] < stalled["seq"], "it was cut off before the end of the burst"
        assert (await fast.call("status"))["feed"]["clients"] == 1  # the fast one is fine
        # and it can resume from where it was told, losing nothing
        async with session(settings, f"after={received[-1]}") as resumed:
            await resumed.message("file.processed", file="bwb_stalled_01.03.2026.json", wait=30)
            assert _seqs(resumed)[0] == received[-1] + 1

    seqs = _seqs(fast)
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "the fast client missed something"
    per_event = [
        m["data"]["duration_ms"] / m["data"]["events_accepted"] for m in (baseline, stalled)
    ]
    print(
        f"cut off after {len(received)} of {stalled['seq'] - baseline['seq']} messages;",
        "ms per event without / with a stalled client:",
        per_event,
    )
    assert per_event[1] < per_event[0] * 3 + 2, "a stalled client slowed the pipeline"


@pytest.mark.trio
async def test_server_pings_keep_live_clients_and_drop_dead_ones(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = http_actor.hypercorn_config

    def fast_heartbeat(host: str, port: int) -> Any:
        config = real(host, port)
        config.websocket_ping_interval = 0.3
        config.read_timeout = 1.5  # seconds without a frame or pong from the client
        return config

    monkeypatch.setattr(http_actor, "hypercorn_config", fast_heartbeat)
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    async with running_daemon(settings) as daemon, session(settings) as alive:
        assert daemon.admin
        hub = daemon.admin.hub
        # a client that completes the handshake and then never sends anything again
        # (like a peer that lost power): it answers no ping
        dead = await trio.open_tcp_stream("127.0.0.1", settings.http_port)
        await dead.send_all(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n\r\n"
        )
        handshake = await dead.receive_some(4096)
        assert handshake.startswith(b"HTTP/1.1 101")
        await trio_wait_until(lambda: hub.client_count == 2, within=15)
        await trio_wait_until(lambda: hub.client_count == 1, within=10)  # dropped by the server
        with trio.fail_after(5):
            while await dead.receive_some(65536):  # pings, then the server's EOF
                pass
        await dead.aclose()
        await trio.sleep(2.0)  # several read timeouts: the live client answers pings
        assert (await alive.call("status"))["feed"]["clients"] == 1
