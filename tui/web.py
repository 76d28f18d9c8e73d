"""The console in a browser: textual-serve behind the admin token.

Every browser session gets its own console process (``eventdedup tui`` under
Textual's web driver, started by textual-serve), which talks to the daemon's
websocket exactly as the terminal console does.  This module adds what
textual-serve leaves out, authentication:

* ``GET /login`` shows a form; ``POST /login`` with the right token sets a
  session cookie (HttpOnly, SameSite=Strict, an opaque random id that maps to
  an expiry in this process's memory, so the token itself never travels back
  to the browser) and redirects to the console.
* ``Authorization: Bearer <token>`` is accepted for scripts.
* Anything else (the page, its websocket, its static files) without one of the
  two is answered with 401 and the login form, nothing of the console.

The web process is separate from the daemon and runs on asyncio (aiohttp),
like textual-serve itself.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from textual_serve.server import Server, to_int

log = logging.getLogger("eventdedup.web_console")

SESSION_COOKIE = "eventdedup_console"
SESSION_SECONDS = 12 * 3600.0
# Reachable without a session: the login form and its answer.
OPEN_PATHS = frozenset({"/login"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# textual-serve's page fetches its font from Google Fonts; the package ships the
# font, so the console asks no third party (and works on hosts without internet).
REMOTE_FONT = re.compile(r"<link[^>]*fonts\.googleapis\.com[^>]*>", re.DOTALL)
LOCAL_FONT = (
    "<style>@font-face { font-family: 'Roboto Mono'; "
    "src: url('{{ config.static.url }}fonts/RobotoMono-VariableFont_wght.ttf') "
    "format('truetype'); }</style>"
)


def console_command(url: str, token_file: Path | None = None) -> str:
    """The shell command textual-serve starts per browser session.

    The token reaches the child the way it reached this process: the child
    inherits the environment (``EVENT_DEDUP_ADMIN_TOKEN`` / ``_FILE``, the data
    dir) and gets the same ``--token-file``; it never appears on a command line.
    """
    argv = [sys.executable, "-m", "eventdedup", "tui", "--url", url]
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    return shlex.join(argv)


class Sessions:
    """Opaque session ids and when each expires (this process's memory only)."""

    def __init__(
        self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._expiry: dict[str, float] = {}

    def create(self) -> str:
        now = self.clock()
        self._expiry = {sid: t for sid, t in self._expiry.items() if t > now}
        sid = secrets.token_urlsafe(32)
        self._expiry[sid] = now + self.lifetime
        return sid

    def valid(self, sid: str | None) -> bool:
        if not sid:
            return False
        expiry = self._expiry.get(sid)
        return expiry is not None and expiry > self.clock()

    def drop(self, sid: str | None) -> None:
        if sid:
            self._expiry.pop(sid, None)

    def __len__(self) -> int:
        return len(self._expiry)


class TokenCheck(Protocol):
    """The admin token's checks (``eventdedup.admin.auth.AdminToken``, given by the caller)."""

    def matches(self, candidate: str | None) -> bool: ...

    def matches_header(self, header: str | None) -> bool: ...


LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>eventdedup console · log in</title>
<style>
  body {{ background: #0c181f; color: #e6edf3; font-family: monospace; display: flex;
         align-items: center; justify-content: center; height: 100vh; margin: 0; }}
  form {{ background: #12232d; padding: 2em 2.5em; min-width: 22em; }}
  h1 {{ font-size: 1.2em; margin-top: 0; }}
  input {{ width: 100%; box-sizing: border-box; padding: .5em; margin: .5em 0 1em;
          font-family: monospace; }}
  button {{ padding: .6em 2em; background: #5e0ba7; color: #fff; border: none;
           font-family: monospace; cursor: pointer; }}
  .error {{ color: #ff7b72; }}
</style>
</head>
<body>
<form method="post" action="/login">
  <h1>◆ eventdedup console</h1>
  <p class="error" id="error">{error}</p>
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" autofocus>
  <button id="login" type="submit">Log in</button>
</form>
</body>
</html>
"""

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def login_page(status: int, error: str = "") -> web.Response:
    headers = dict(SECURITY_HEADERS)
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="eventdedup console"'
    return web.Response(
        status=status,
        text=LOGIN_PAGE.format(error=html.escape(error)),
        content_type="text/html",
        headers=headers,
    )


class ConsoleServer(Server):
    """textual-serve's server with the admin token in front of everything."""

    def __init__(
        self,
        command: str,
        token: TokenCheck,
        *,
        host: str,
        port: int,
        sessions: Sessions | None = None,
    ) -> None:
        super().__init__(command, host=host, port=port, title="eventdedup console")
        self._token = token
        self.sessions = sessions or Sessions()

    # -- authentication ------------------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        if self._token.matches_header(request.headers.get("Authorization")):
            return True
        return self.sessions.valid(request.cookies.get(SESSION_COOKIE))

    @web.middleware
    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        if not self.authorized(request):
            return login_page(401)
        if request.path == "/ws" and not same_origin(request):
            # a page on another site cannot drive the console with our cookie
            log.warning(
                "console websocket from a foreign origin %r refused", request.headers.get("Origin")
            )
            return web.Response(status=403, text="403: foreign origin")
        response = await handler(request)
        if request.path == "/":
            response.headers.update(SECURITY_HEADERS)
        return response

    async def handle_login_form(self, request: web.Request) -> web.Response:
        return login_page(200)

    async def handle_login(self, request: web.Request) -> web.Response:
        form = await request.post()
        candidate = form.get("token")
        if not isinstance(candidate, str) or not self._token.matches(candidate.strip()):
            log.warning("console login with a wrong token from %s", request.remote)
            return login_page(401, "Wrong token.")
        response = web.Response(status=303, headers={"Location": "/"})
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.create(),
            max_age=int(self.sessions.lifetime),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=served_over_https(request),
        )
        log.info("console login from %s", request.remote)
        return response

    async def handle_logout(self, request: web.Request) -> web.Response:
        self.sessions.drop(request.cookies.get(SESSION_COOKIE))
        response = web.Response(status=303, headers={"Location": "/login"})
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    # -- textual-serve -------------------------------------------------------------------

    def page_template(self, name: str) -> str:
        return REMOTE_FONT.sub(LOCAL_FONT, (self.templates_path / name).read_text("utf-8"))

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        aiohttp_jinja2.setup(app, loader=jinja2.FunctionLoader(self.page_template))
        app.middlewares.append(self.guard)
        app.add_routes(
            [
                web.get("/login", self.handle_login_form),
                web.post("/login", self.handle_login),
                web.get("/logout", self.handle_logout),
                web.post("/logout", self.handle_logout),
            ]
        )
        return app

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        # URLs from the request, not from the bind address (0.0.0.0 in a container)
        scheme = "wss" if served_over_https(request) else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{scheme}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }

    def initialize_logging(self) -> None:
        """The caller set up logging (text or JSON lines, like the daemon)."""

    async def on_startup(self, app: web.Application) -> None:
        log.info(
            "console in a browser on http://%s:%d/ (log in with the admin token)",
            self.host,
            self.port,
        )


def same_origin(request: web.Request) -> bool:
    """No ``Origin`` (a script) or one naming this very host."""
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def served_over_https(request: web.Request) -> bool:
    """HTTPS here or at a proxy in front (``X-Forwarded-Proto``).

    The header only shapes this client's own page (its websocket URL, its
    cookie's ``Secure``), so it need not come from a trusted proxy.
    """
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"
