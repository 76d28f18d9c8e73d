"""Authentication of every route and of the websocket; the token's origin and file mode."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from eventdedup.admin.auth import client_token, load_admin_token
from eventdedup.config import ConfigError
from eventdedup.web.app import create_app
from tests._support.auth import TOKEN, http_auth, ws_auth
from tests.admin.helpers import Session
from tests.daemon.harness import base_url, make_settings, running_daemon, ws_url

PROTECTED = [
    "/api/events",
    "/api/events/1",
    "/api/export",
    "/api/export?format=clusters",
]
#: What is open holds no data: probes, metrics, and the description of the API.
OPEN = ["/health", "/metrics", "/openapi.json", "/docs"]


async def _close_code(
    url: str, headers: list[tuple[bytes, bytes]], first: str | None = None
) -> int | None:
    """Connect, optionally send one frame, and return the close code the server chose."""
    async with open_websocket_url(url, extra_headers=headers) as ws:
        if first is not None:
            await ws.send_message(first)
        with trio.fail_after(15):
            try:
                while True:
                    await ws.get_message()
            except ConnectionClosed as exc:
                return exc.reason.code
    return None


@pytest.mark.trio
async def test_every_route_and_the_websocket_need_the_token(
    tmp_path: Path,
    database_url: str,
    migrated_engine: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(tmp_path, database_url, admin_token=TOKEN)
    wrong = "wrong-token-0123456789"
    caplog.set_level(logging.INFO)
    async with (
        running_daemon(settings) as daemon,
        httpx.AsyncClient(base_url=base_url(settings), timeout=30) as http,
    ):
        assert daemon.admin is not None
        daemon.admin.auth_deadline = 0.5
        for path in PROTECTED:
            for headers in (
                {},
                {"Authorization": f"Bearer {wrong}"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": "Bearer"},
                {"Authorization": f"Bearer {TOKEN}x"},
            ):
                r = await http.get(path, headers=headers)
                assert r.status_code == 401, (path, headers, r.text)
                assert r.json() == {"error": "unauthorized"}
                assert r.headers["www-authenticate"] == "Bearer"
            ok = await http.get(path, headers=http_auth())
            expected = 404 if path == "/api/events/1" else 200
            assert ok.status_code == expected, (path, ok.text)
        # the scheme is case-insensitive (RFC 7235)
        assert (
            await http.get("/api/events", headers={"Authorization": f"bearer {TOKEN}"})
        ).status_code == 200
        for path in OPEN:
            assert (await http.get(path)).status_code == 200, path
        # every other route of the app is guarded: a route added later is too
        app = create_app(health=lambda: (True, {}), hub=daemon.admin.hub, admin=daemon.admin)
        rules = {r.rule for r in app.url_map.iter_rules() if "GET" in (r.methods or ())}
        assert {"/api/events", "/api/export", "/openapi.json"} <= rules
        for rule in sorted(rules - set(OPEN) - {"/ws"}):
            path = rule.replace("<int(signed=True):event_id>", "1").replace("<path:filename>", "x")
            r = await http.get(path)
            assert r.status_code == 401, (rule, r.status_code)

        url = ws_url(settings)
        bearer = ws_auth()
        assert await _close_code(url, ws_auth(wrong)) == 4401
        assert await _close_code(url, [], first=json.dumps({"auth": wrong})) == 4401
        assert (
            await _close_code(
                url, [], first=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "status"})
            )
            == 4401
        )
        assert await _close_code(url, [], first="not json") == 4401
        assert await _close_code(url, []) == 4401  # said nothing within the deadline
        # a bad query is only answered after authentication
        assert await _close_code(ws_url(settings, "after=-1"), bearer) == 1008

        async with open_websocket_url(url, extra_headers=bearer) as ws:
            s = Session(ws)
            assert (await s.call("status"))["feed"]["clients"] >= 1
        async with open_websocket_url(url) as ws:
            await ws.send_message(json.dumps({"auth": TOKEN}))
            s = Session(ws)
            status = await s.call("status")
            assert {a["name"] for a in status["actors"]} >= {"http", "feed", "processor"}

        metrics = (await http.get("/metrics")).text
    assert 'eventdedup_auth_failures_total{surface="http"}' in metrics
    assert 'eventdedup_auth_failures_total{surface="websocket"} 5.0' in metrics
    failures = [r for r in caplog.records if "authentication failed" in r.getMessage()]
    assert len(failures) >= len(PROTECTED) * 5 + 5
    assert all(wrong not in r.getMessage() and TOKEN not in r.getMessage() for r in caplog.records)


def test_token_sources_and_generated_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    base = make_settings(tmp_path, "postgresql://unused/db")
    generated = load_admin_token(base)
    assert generated.source == "generated"
    assert len(generated.value) >= 40
    path = base.token_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == generated.value
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert str(path) in logged and generated.value not in logged
    assert generated.value not in repr(generated)

    again = load_admin_token(base)  # a restart reads the same token, does not regenerate
    assert again.value == generated.value and again.source == "data-dir"
    assert client_token(base) == generated.value  # what `eventdedup feed` sends

    path.chmod(0o644)  # too open: tightened on the next start
    load_admin_token(base)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    from_file = make_settings(tmp_path, "postgresql://unused/db", admin_token_file=secret)
    assert load_admin_token(from_file).value == "from-file"
    both = make_settings(
        tmp_path, "postgresql://unused/db", admin_token_file=secret, admin_token="from-env"
    )
    assert load_admin_token(both).value == "from-env"
    secret.write_text("  \n")
    with pytest.raises(ConfigError, match="EVENT_DEDUP_ADMIN_TOKEN_FILE"):
        load_admin_token(from_file)
    missing = make_settings(tmp_path, "postgresql://unused/db", admin_token_file=tmp_path / "nope")
    with pytest.raises(ConfigError, match="EVENT_DEDUP_ADMIN_TOKEN_FILE"):
        load_admin_token(missing)
