"""JSON-RPC framing on the websocket: bad input gets an error reply and harms nobody."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import trio
from trio_websocket import ConnectionClosed

from eventdedup.web.limits import MAX_WS_MESSAGE_BYTES
from tests._support.auth import TOKEN
from tests.admin.helpers import session
from tests.daemon.harness import make_settings, running_daemon


@pytest.mark.trio
async def test_malformed_and_unknown_requests_keep_the_connection_open(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    async with running_daemon(settings), session(settings) as s, session(settings) as other:

        async def reply_to(frame: str | bytes) -> dict:
            await s.ws.send_message(frame)
            with trio.fail_after(10):
                while True:
                    message = json.loads(await s.ws.get_message())
                    if "jsonrpc" in message or isinstance(message, list):
                        return message

        assert (await reply_to("{nope"))["error"]["code"] == -32700
        assert (await reply_to(b"\xff\xfe"))["error"]["code"] == -32700
        assert (await reply_to("[]"))["error"]["code"] == -32600
        assert (await reply_to("42"))["error"]["code"] == -32600
        assert (await reply_to('{"id": 1, "method": "status"}'))["error"]["code"] == -32600
        assert (await reply_to('{"jsonrpc": "2.0", "id": [1], "method": "status"}'))["error"][
            "code"
        ] == -32600
        unknown = await s.error("no.such.method")
        assert unknown["code"] == -32601
        bad = await s.error("events.search", {"size": 0})
        assert bad["code"] == -32602 and "size" in bad["message"]
        typo = await s.error("events.search", {"qq": "x"})
        assert typo["code"] == -32602 and "qq" in typo["message"]
        assert (await s.error("events.search", [1, 2]))["code"] == -32602
        assert (await s.error("events.get", {"id": 2**70}))["code"] == -32602
        assert (await s.error("events.get", {"id": "7"}))["code"] == -32602
        assert (await s.error("events.get", {"id": 7}))["code"] == -32004
        assert (await s.error("events.search", {"q": "a\x00b"}))["code"] == -32602
        assert (
            await s.error("review.merge", {"source_canonical_id": 1, "target_canonical_id": 1})
        )["code"] == -32004
        assert (await s.error("config.set", {"matching": {"thresholds": {"high": 7}}}))[
            "code"
        ] == -32602
        assert (await s.error("config.set", {"matching": {"no_such_section": {}}}))[
            "code"
        ] == -32602
        assert (await s.error("deadletters.retry", {"file": "../../etc/passwd"}))["code"] == -32602
        assert (await s.error("actor.restart", {"name": "nobody"}))["code"] == -32004

        # a batch: each answered; a notification (no id) is not answered at all
        batch = await reply_to(
            json.dumps(
                [
                    {"jsonrpc": "2.0", "id": "a", "method": "events.search", "params": {"size": 1}},
                    {"jsonrpc": "2.0", "method": "status"},
                    {"jsonrpc": "2.0", "id": "b", "method": "nope"},
                ]
            )
        )
        assert [r["id"] for r in batch] == ["a", "b"]
        assert batch[0]["result"]["total"] == 0 and batch[1]["error"]["code"] == -32601

        # rate limit: a burst beyond the bucket gets -32029, the connection stays open
        flood = 400
        for n in range(flood):
            await s.send({"jsonrpc": "2.0", "id": f"f{n}", "method": "nope"})
        codes = [(await s.response(f"f{n}"))["error"]["code"] for n in range(flood)]
        assert codes.count(-32029) > 0, "the bucket never ran dry"
        assert set(codes) == {-32601, -32029}
        assert codes[:150] == [-32601] * 150  # the burst allowance comes first
        assert (await other.call("status"))["replica"]  # other clients are unaffected
        await trio.sleep(1.0)
        assert (await s.call("status"))["feed"]["clients"] == 2

        # a frame above the documented limit closes only that connection (1009)
        await s.ws.send_message("x" * (MAX_WS_MESSAGE_BYTES + 1))
        with pytest.raises(ConnectionClosed) as closed:
            with trio.fail_after(10):
                while True:
                    await s.ws.get_message()
        assert closed.value.reason.code == 1009
        assert (await other.call("status"))["feed"]["clients"] == 1
