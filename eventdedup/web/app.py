"""The Quart-Trio application: every HTTP and websocket route lives here.

Routes (docs/admin.md):

* ``GET /health`` and ``GET /metrics`` — open, for probes and scrapers;
* ``WS /ws`` — feed + JSON-RPC (``eventdedup.web.ws``);
* ``GET /api/events``, ``GET /api/events/{id}``, ``GET /api/export`` — for
  scripts; same token as the websocket;
* ``GET /openapi.json`` and ``GET /docs`` (Scalar) — open: they describe the
  routes and hold no data.

REST and JSON-RPC share their parameter checks and queries
(``eventdedup.admin``), so a search means the same on both surfaces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from quart import Response, request
from quart_schema import QuartSchema
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from eventdedup.admin.commands import build_dispatcher
from eventdedup.admin.context import AdminContext
from eventdedup.admin.queries import SearchQuery, get_event, search_events
from eventdedup.admin.rpc import MAX_ID, Params, RpcError, dumps
from eventdedup.export import export_clusters, export_events
from eventdedup.feedhub import FeedHub
from eventdedup.web import openapi as doc
from eventdedup.web.ws import CLOSE_TIMEOUT, serve_ws

log = logging.getLogger(__name__)

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]

#: Reachable without the admin token: container healthchecks, Prometheus, and the API's
#: description (it describes the routes, it holds no data; every data route needs the token).
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
OPEN_PATHS = frozenset({"/health", "/metrics", OPENAPI_PATH, DOCS_PATH})


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(
        dumps(body), status=status, content_type="application/json", headers=headers or None
    )


def _error(status: int, message: str, **headers: str) -> Response:
    return _json({"error": message}, status, **headers)


def _read(engine: Any, fn: Callable[..., Any], *args: Any) -> Any:
    with engine.connect() as conn:
        return fn(conn, *args)


def create_app(
    *,
    health: HealthProbe,
    hub: FeedHub,
    admin: AdminContext,
    close_timeout: float = CLOSE_TIMEOUT,
) -> QuartTrio:
    """Build the app around explicit dependencies (no module-level state).

    ``close_timeout``: how long a websocket close may wait (``eventdedup.web.ws``).
    """
    app = QuartTrio("eventdedup")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    QuartSchema(
        app,
        info={
            "title": "eventdedup admin API",
            "version": "1",
            "description": "REST routes for scripts; the websocket /ws carries the feed and "
            "the JSON-RPC admin commands (docs/protocol.md).",
        },
        openapi_path=OPENAPI_PATH,
        redoc_ui_path=None,
        scalar_ui_path=DOCS_PATH,
        swagger_ui_path=None,
        security_schemes={doc.BEARER: {"type": "http", "scheme": "bearer"}},
        security=[{doc.BEARER: []}],
        openapi_provider_class=doc.FragmentProvider,
    )
    dispatcher = build_dispatcher(admin)
    db = admin.db

    @app.before_request
    async def require_token() -> Response | None:
        if request.path in OPEN_PATHS:
            return None
        if admin.token.matches_header(request.headers.get("Authorization")):
            return None
        admin.metrics.auth_failures.labels("http").inc()
        log.warning(
            "HTTP authentication failed for %s %s from %s",
            request.method,
            request.path[:200],
            request.remote_addr,
            extra={"event": "auth.failed", "surface": "http", "peer": request.remote_addr},
        )
        return _error(401, "unauthorized", **{"WWW-Authenticate": "Bearer"})

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(RpcError)
    async def rpc_error(exc: RpcError) -> Response:
        status = {-32602: 400, -32004: 404, -32009: 409}.get(exc.code, 500)
        return _error(status, exc.message)

    @app.get("/health")
    @doc.api_doc(
        summary="Liveness and readiness",
        security=[],
        responses={
            "200": doc.json_response(
                "Every permanent actor runs and the database answers", doc.HEALTH
            ),
            "503": doc.json_response("Not ready; `reasons` says why", doc.HEALTH),
        },
    )
    async def get_health() -> Response:
        ok, body = health()
        return Response(
            json.dumps(body), status=200 if ok else 503, content_type="application/json"
        )

    @app.get("/metrics")
    @doc.api_doc(
        summary="Prometheus metrics",
        security=[],
        responses={
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    )
    async def get_metrics() -> Response:
        await admin.refresh_metrics()
        return Response(admin.metrics.render(), status=200, content_type=CONTENT_TYPE_LATEST)

    @app.get("/api/events")
    @doc.api_doc(
        summary="Search canonical events (same as the events.search command)",
        parameters=doc.SEARCH_PARAMETERS,
        responses={
            "200": doc.json_response("One page of canonical events", doc.SEARCH_RESULT),
            "400": doc.BAD_REQUEST,
            "401": doc.UNAUTHORIZED,
        },
    )
    async def api_events() -> Response:
        query = SearchQuery.parse(Params(request.args.to_dict(), from_query=True))
        return _json(await db.run(_read, db.engine, search_events, query))

    @app.get("/api/events/<int(signed=True):event_id>")
    @doc.api_doc(
        summary="One canonical event with sources, decisions and constraints",
        description="A merged-away id resolves to the survivor (`redirected_from`).",
        parameters=[
            {"name": "event_id", "in": "path", "required": True, "schema": {"type": "integer"}}
        ],
        responses={
            "200": doc.json_response("The canonical event", doc.EVENT_DETAIL),
            "401": doc.UNAUTHORIZED,
            "404": doc.NOT_FOUND,
        },
    )
    async def api_event(event_id: int) -> Response:
        Params(request.args.to_dict(), from_query=True).done()
        if not 0 < event_id <= MAX_ID:
            return _error(404, f"not found: canonical event {event_id}")
        result = await db.run(_read, db.engine, get_event, event_id)
        if result is None:
            return _error(404, f"not found: canonical event {event_id}")
        return _json(result)

    @app.get("/api/export")
    @doc.api_doc(
        summary="Export canonical events (input format) or clusters",
        parameters=[
            doc.query(
                "format",
                {"type": "string", "enum": ["events", "clusters"]},
                "events (default): canonical events in the drop-folder "
                "format; clusters: source-event ids per canonical",
            )
        ],
        responses={
            "200": doc.json_response("The export (a JSON attachment)", doc.EXPORT),
            "400": doc.BAD_REQUEST,
            "401": doc.UNAUTHORIZED,
        },
    )
    async def api_export() -> Response:
        params = Params(request.args.to_dict(), from_query=True)
        kind = params.choice("format", ["events", "clusters"], default="events")
        params.done()
        fn = export_events if kind == "events" else export_clusters
        body = await db.run(_read, db.engine, fn)
        return _json(
            body, 200, **{"Content-Disposition": f'attachment; filename="eventdedup-{kind}.json"'}
        )

    @app.websocket("/ws")
    async def ws_feed() -> None:
        await serve_ws(admin, dispatcher, close_timeout=close_timeout)

    return app
