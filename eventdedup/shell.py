"""Admin calls from the shell: ``eventdedup rpc`` and ``eventdedup status``.

One JSON-RPC request over the daemon's websocket (docs/protocol.md), then the
connection is closed: no reconnecting, no waiting for a daemon that is not
there.  Exit codes (docs/admin.md): 0 answered, 1 the daemon answered with an
error (``rpc``) or reports a degraded state (``status``), 3 the daemon could
not be asked (unreachable, token rejected, no answer in time).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from eventdedup.client import CLOSE_UNAUTHORIZED

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNREACHABLE = 3

#: Actor states of a healthy daemon (``completed``: the migrator, done at start).
HEALTHY_STATES = frozenset({"running", "completed"})


class ShellError(Exception):
    """The daemon could not be asked; the message says why, in one line."""


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """``key=value`` words to JSON-RPC params; a value is JSON where it parses, else a string.

    ``page=2`` → 2, ``ok=true`` → True, ``q=Fasnet`` → "Fasnet", ``q='"2026"'`` → "2026".
    """
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{item!r}: expected key=value")
        if key in params:
            raise ValueError(f"{key!r} given twice")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


async def call_once(
    url: str,
    token: str | None,
    method: str,
    params: Mapping[str, Any] | None = None,
    *,
    time_limit: float = 30.0,
) -> dict[str, Any]:
    """Send one request and return the daemon's response object (``result`` or ``error``).

    Raises :class:`ShellError` when no response comes: unreachable, token
    rejected (close 4401), connection lost, or nothing within ``time_limit`` seconds.
    """
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params:
        request["params"] = dict(params)
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    try:
        with trio.fail_after(time_limit):
            async with open_websocket_url(
                url, extra_headers=headers, connect_timeout=time_limit, disconnect_timeout=1.0
            ) as ws:
                await ws.send_message(json.dumps(request, ensure_ascii=False))
                while True:  # feed frames may come first: skip them
                    frame = json.loads(await ws.get_message())
                    if isinstance(frame, dict) and "jsonrpc" in frame and frame.get("id") == 1:
                        return frame
    except ConnectionClosed as exc:
        code = getattr(exc.reason, "code", None)
        if code == CLOSE_UNAUTHORIZED:
            raise ShellError(
                f"{url}: the daemon rejected the admin token (close {code}); "
                "check --token-file or EVENT_DEDUP_ADMIN_TOKEN"
            ) from None
        raise ShellError(f"{url}: connection closed before an answer ({code})") from None
    except HandshakeError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, OSError):  # trio-websocket wraps a refused connection
            raise ShellError(f"cannot connect to {url}: {cause.strerror or cause}") from None
        raise ShellError(f"{url}: websocket handshake failed: {exc!r}") from None
    except OSError as exc:
        raise ShellError(f"cannot connect to {url}: {exc.strerror or exc}") from None
    except trio.TooSlowError:
        raise ShellError(f"{url}: no answer within {time_limit:g} s") from None


def format_error(error: Any) -> str:
    """A JSON-RPC error object as one line (plus its ``data`` as JSON, if any)."""
    if not isinstance(error, dict):
        return f"error: {error}"
    line = f"error {error.get('code')}: {error.get('message')}"
    if error.get("data") is not None:
        line += " " + json.dumps(error["data"], ensure_ascii=False)
    return line


def degraded(status: Mapping[str, Any]) -> list[str]:
    """What is wrong according to a ``status`` result (empty: all well)."""
    problems = [
        f"actor {a.get('name')} is {a.get('state')}"
        for a in status.get("actors") or []
        if a.get("state") not in HEALTHY_STATES
    ]
    if not (status.get("feed") or {}).get("listening", True):
        problems.append("the feed is not listening for notifications (polling)")
    return problems


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "?"


def format_status(status: Mapping[str, Any], url: str) -> str:
    """The ``status`` result for people: actors, queue, files today, review load."""
    counters = status.get("counters") or {}
    queue = status.get("queue") or {}
    feed = status.get("feed") or {}
    actors = status.get("actors") or []
    lines = [f"eventdedup {status.get('replica', '?')} at {url}"]
    healthy = sum(1 for a in actors if a.get("state") in HEALTHY_STATES)
    lines.append(f"actors    {healthy} of {len(actors)} healthy")
    for actor in actors:
        detail = f"  {actor.get('name', '?'):<12} {actor.get('state', '?'):<12}"
        if actor.get("restarts"):
            detail += f" {actor['restarts']} restarts"
        if actor.get("last_error") and actor.get("state") not in HEALTHY_STATES:
            detail += f"  last error: {actor['last_error']}"
        lines.append(detail.rstrip())
    lines.append(f"queue     {_n(queue.get('inbox'))} files waiting in the inbox")
    lines.append(
        f"files     {_n(counters.get('files_today'))} processed today, "
        f"{_n(counters.get('files_processed'))} in all, {_n(counters.get('files_failed'))} "
        f"failed, {_n(counters.get('dead_letters'))} in dead letters"
    )
    lines.append(
        f"events    {_n(counters.get('events'))} source events in "
        f"{_n(counters.get('canonicals'))} canonical events"
    )
    lines.append(f"review    {_n(counters.get('review_open'))} open items")
    listening = "listening" if feed.get("listening") else "polling"
    lines.append(
        f"feed      head {_n(feed.get('head'))}, clients {_n(feed.get('clients'))}, {listening}"
    )
    problems = degraded(status)
    lines.append("state     " + ("ok" if not problems else "DEGRADED: " + "; ".join(problems)))
    return "\n".join(lines)
