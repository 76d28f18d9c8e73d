"""DaemonClient against a scripted trio-websocket server (no daemon, milliseconds)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from trio_websocket import WebSocketRequest, serve_websocket

from eventdedup.client import (
    ConnectionState,
    DaemonClient,
    NotConnected,
    RpcError,
    RpcTimeout,
)


def message(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": "file.accepted",
        "at": "2025-01-01T00:00:00+00:00",
        "data": {"file": f"f{seq}.json"},
    }


def feed(*seqs: int) -> str:
    """One feed frame, as the daemon sends it: ``{"feed": [...]}``."""
    return json.dumps({"feed": [message(seq) for seq in seqs]})


class Server:
    """Answers RPCs (in reverse order of arrival, to prove matching by id), sends feed
    messages, and closes the first connection after seq 3 to force a resume."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []

    async def handler(self, request: WebSocketRequest) -> None:
        self.paths.append(request.path)
        self.headers.append({k.decode(): v.decode() for k, v in request.headers})
        ws = await request.accept()
        first = len(self.paths) == 1
        if first:
            await ws.send_message(feed(1, 2))
            await ws.send_message(json.dumps(message(3)))  # a bare message is accepted too
            await ws.aclose(4008, "lagging; resume with after=3")
            return
        await ws.send_message(feed(3))  # a repeat the client must drop
        await ws.send_message(feed(4))
        held: list[dict[str, Any]] = []
        while True:
            request_msg = json.loads(await ws.get_message())
            if request_msg["method"] == "slow":
                continue  # never answered
            held.append(request_msg)
            if request_msg["method"] == "drop":
                await ws.aclose(1011, "bye")
                return
            if len(held) < 2:
                continue
            for req in reversed(held):
                if req["method"] == "fail":
                    body = {"error": {"code": -32602, "message": "bad param x"}}
                else:
                    body = {"result": {"echo": req.get("params")}}
                await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": req["id"]} | body))
            held.clear()


@pytest.mark.trio
async def test_rpc_and_feed_on_one_connection() -> None:
    server = Server()
    states: list[ConnectionState] = []
    async with trio.open_nursery() as nursery:
        listener = await nursery.start(serve_websocket, server.handler, "127.0.0.1", 0, None)
        port = listener.port
        client = DaemonClient(
            f"ws://127.0.0.1:{port}/ws",
            token="s3cret",
            backoff_initial=0.01,
            request_timeout=2.0,
            on_state=states.append,
        )
        async with client.open():
            seqs = []
            with trio.fail_after(5):
                async for message in client.feed:
                    seqs.append(message["seq"])
                    if message["seq"] == 4:
                        break
            assert seqs == [1, 2, 3, 4]  # resumed after 3, the repeated 3 dropped
            assert server.paths[1] == "/ws?after=3"
            assert server.headers[0]["authorization"] == "Bearer s3cret"

            results: dict[str, Any] = {}

            async def call(name: str, method: str, params: dict[str, Any]) -> None:
                try:
                    results[name] = await client.call(method, params)
                except RpcError as exc:
                    results[name] = exc

            async with trio.open_nursery() as calls:
                calls.start_soon(call, "ok", "echo", {"n": 1})
                calls.start_soon(call, "bad", "fail", {"n": 2})
            assert results["ok"] == {"echo": {"n": 1}}
            assert isinstance(results["bad"], RpcError) and results["bad"].code == -32602

            with pytest.raises(RpcTimeout):
                await client.call("slow", time_limit=0.2)
            with pytest.raises(NotConnected):
                await client.call("drop")
        nursery.cancel_scope.cancel()
    assert [s.connected for s in states][:3] == [True, False, True]
    assert states[1].close_code == 4008 and states[1].retry_in == 0.0
