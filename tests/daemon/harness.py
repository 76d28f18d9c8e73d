"""Start the real daemon in-process on a loopback port, with helpers to poke at it."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from eventdedup.admin.auth import client_token
from eventdedup.client import feed_messages
from eventdedup.config import Settings, load_settings
from eventdedup.daemon import Daemon, build_daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "event_data_dir": tmp_path / "inbox",
        "dead_letter_dir": tmp_path / "dead_letters",
        "archive_dir": tmp_path / "archive",
        "data_dir": tmp_path / "state",
        "http_port": free_port(),
        "settle_seconds": 0.3,
        "rescan_seconds": 1.0,
    }
    values.update(overrides)
    return load_settings(environ={}, **values)


@asynccontextmanager
async def running_daemon(settings: Settings) -> AsyncIterator[Daemon]:
    assert settings.database_url
    daemon = build_daemon(settings, settings.database_url)
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.supervisor.run)
        try:
            yield daemon
        finally:
            daemon.supervisor.stop()
    daemon.db.dispose()


def base_url(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.http_port}"


def ws_url(settings: Settings, query: str = "") -> str:
    return f"ws://127.0.0.1:{settings.http_port}/ws" + (f"?{query}" if query else "")


def admin_token(settings: Settings) -> str:
    """The token the daemon under test accepts (set, or generated into its data dir)."""
    token = client_token(settings)
    assert token, f"no admin token configured or generated in {settings.data_dir}"
    return token


def auth_headers(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token(settings)}"}


async def get_health(settings: Settings) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(base_url(settings) + "/health")


def drop_file(source: Path, inbox: Path, name: str | None = None) -> Path:
    """Copy like a careful producer: a dot-temp name, then an atomic rename."""
    target = inbox / (name or source.name)
    tmp = inbox / f".{target.name}.tmp"
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
    return target


def write_file(inbox: Path, name: str, content: bytes | str) -> Path:
    data = content.encode() if isinstance(content, str) else content
    tmp = inbox / f".{name}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)
    return inbox / name


async def next_message(ws: WebSocketConnection, type_: str, **match: Any) -> dict[str, Any]:
    """The next feed message of ``type_`` whose data contains ``match`` (15 s at most)."""
    with trio.fail_after(15):
        while True:
            for message in feed_messages(json.loads(await ws.get_message())):
                if message["type"] == type_ and all(
                    message["data"].get(k) == v for k, v in match.items()
                ):
                    return message


@asynccontextmanager
async def feed(settings: Settings, query: str = "") -> AsyncIterator[WebSocketConnection]:
    headers = [(b"authorization", f"Bearer {admin_token(settings)}".encode())]
    async with open_websocket_url(ws_url(settings, query), extra_headers=headers) as ws:
        yield ws


async def settled(check: Callable[[], bool], wait: float = 10.0) -> None:
    """Wait until ``check()`` holds.

    A feed message is delivered when its transaction commits (NOTIFY), and the
    pipeline moves the file out of the inbox only *after* that commit, so a
    test that looks at the folders right after a ``file.*`` message must wait.
    """
    with trio.fail_after(wait):
        while not check():  # noqa: ASYNC110 (the file system has nothing to wait on)
            await trio.sleep(0.02)


def scalar(engine: sa.Engine, query: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar_one()
