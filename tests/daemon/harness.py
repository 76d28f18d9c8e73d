"""Start the real daemon in-process on a loopback port, with helpers to poke at it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import WebSocketConnection, open_websocket_url

from eventdedup.client import feed_messages
from eventdedup.config import Settings, load_settings
from eventdedup.daemon import Daemon, build_daemon
from tests._support.auth import admin_token, ws_auth
from tests._support.net import free_port


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
    async with open_websocket_url(
        ws_url(settings, query), extra_headers=ws_auth(admin_token(settings))
    ) as ws:
        yield ws
