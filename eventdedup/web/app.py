"""The Quart-Trio application: every HTTP and websocket route lives here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from quart import Response, websocket
from quart_trio import QuartTrio

from eventdedup.db.outbox import FeedMessage
from eventdedup.web.feed import CLOSE_LAGGING, FeedHub, parse_after, parse_types, stream

log = logging.getLogger(__name__)

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]


def create_app(*, health: HealthProbe, hub: FeedHub) -> QuartTrio:
    """Build the app around explicit dependencies (no module-level state)."""
    app = QuartTrio("eventdedup")

    @app.get("/health")
    async def get_health() -> Response:
        ok, body = health()
        return Response(json.dumps(body), status=200 if ok else 503,
                        content_type="application/json")

    @app.websocket("/ws")
    async def ws_feed() -> None:
        try:
            after = parse_after(websocket.args.get("after"))
        except ValueError:
            await websocket.close(1008, "after must be a non-negative integer")
            return
        await hub.wait_started()
        sub = hub.subscribe(parse_types(websocket.args.get("types")))

        async def send(message: FeedMessage) -> None:
            await websocket.send(json.dumps(message.to_json(), ensure_ascii=False))

        try:
            await websocket.accept()
            last = await stream(hub, sub, after, send)
        finally:
            hub.unsubscribe(sub)
        await websocket.close(CLOSE_LAGGING, f"lagging; resume with after={last}")

    return app
