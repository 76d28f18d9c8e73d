"""JSON-RPC 2.0 framing for the websocket: parsing, parameter checks, errors, rate limit.

Transport-independent on purpose: the websocket handler feeds it text frames
and sends back whatever it returns, and the REST routes reuse the parameter
checks (:class:`Params`) so both surfaces accept and reject exactly the same
input.  Nothing a client sends can raise out of :meth:`Dispatcher.handle_frame`:
malformed input becomes an error response and the connection stays usable.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
import trio
from sqlalchemy.exc import DBAPIError

from eventdedup.db.engine import error_line

log = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32000
NOT_FOUND = -32004
CONFLICT = -32009
RATE_LIMITED = -32029

#: Largest value a PostgreSQL ``bigint`` holds; larger ids cannot exist.
MAX_ID = 2**63 - 1
#: Requests in one JSON-RPC batch (each still counts against the rate limit).
MAX_BATCH = 50
MAX_TEXT = 500


class RpcError(Exception):
    """An error the client is told about (code, message, optional data)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


def invalid(name: str, why: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid params: {name} {why}")


def not_found(what: str) -> RpcError:
    return RpcError(NOT_FOUND, f"not found: {what}")


def conflict(why: str) -> RpcError:
    return RpcError(CONFLICT, f"conflict: {why}")


class Params:
    """Typed access to a request's ``params`` that names the offending parameter.

    ``from_query=True`` accepts the string forms a URL query carries (REST),
    so ``page=2`` and ``{"page": 2}`` mean the same.  Every parameter a method
    reads is recorded; :meth:`done` rejects any the method does not know, so a
    typo ("oprator") is an error rather than a silently ignored value.
    """

    def __init__(self, raw: Any, *, from_query: bool = False) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise RpcError(INVALID_PARAMS, "invalid params: params must be an object")
        self.raw = raw
        self.from_query = from_query
        self._seen: set[str] = set()

    def _get(self, name: str) -> Any:
        self._seen.add(name)
        value = self.raw.get(name)
        if self.from_query and value == "":
            return None
        return value

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._seen, key=str)
        if unknown:
            raise invalid(str(unknown[0])[:50], "is not a known parameter")

    def string(
        self,
        name: str,
        *,
        required: bool = False,
        max_length: int = MAX_TEXT,
        default: str | None = None,
    ) -> str | None:
        value = self._get(name)
        if value is None:
            if required:
                raise invalid(name, "is required")
            return default
        if not isinstance(value, str):
            raise invalid(name, "must be a string")
        if "\x00" in value:
            raise invalid(name, "must not contain NUL characters")
        if len(value) > max_length:
            raise invalid(name, f"must be at most {max_length} characters")
        if required and not value.strip():
            raise invalid(name, "must not be empty")
        return value

    def integer(
        self,
        name: str,
        *,
        required: bool = False,
        default: int | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        value = self._get(name)
        if value is None:
            if required:
                raise invalid(name, "is required")
            return default
        if self.from_query and isinstance(value, str):
            text = value.strip()
            if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 20:
                raise invalid(name, "must be an integer")
            value = int(text)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(name, "must be an integer")
        if minimum is not None and value < minimum:
            raise invalid(name, f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise invalid(name, f"must be <= {maximum}")
        return value

    def identifier(self, name: str, *, required: bool = True) -> int | None:
        """A database id: a positive bigint (anything else cannot exist)."""
        return self.integer(name, required=required, minimum=1, maximum=MAX_ID)

    def choice(
        self, name: str, options: Iterable[str], *, default: str | None = None
    ) -> str | None:
        allowed = list(options)
        value = self.string(name, max_length=100)
        if value is None:
            return default
        if value not in allowed:
            raise invalid(name, f"must be one of {', '.join(allowed)}")
        return value

    def date(self, name: str) -> dt.date | None:
        value = self.string(name, max_length=40)
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise invalid(name, "must be an ISO date (YYYY-MM-DD)") from None

    def mapping(self, name: str, *, required: bool = False) -> dict[str, Any] | None:
        value = self._get(name)
        if value is None:
            if required:
                raise invalid(name, "is required")
            return None
        if not isinstance(value, Mapping):
            raise invalid(name, "must be an object")
        return dict(value)


@attrs.define
class TokenBucket:
    """Per-connection request rate limit: ``rate`` per second, bursts up to ``burst``."""

    rate: float = 100.0
    burst: float = 200.0
    clock: Callable[[], float] = trio.current_time
    _tokens: float | None = None
    _at: float = 0.0

    def take(self) -> bool:
        now = self.clock()
        if self._tokens is None:
            self._tokens, self._at = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


Handler = Callable[[Params, "Caller"], Awaitable[Any]]


@attrs.define
class Caller:
    """Who sent a request (for logs and the audit log's default operator)."""

    peer: str = "?"
    connection: int = 0


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=_json_default, allow_nan=False)


def _response(
    request_id: Any, *, result: Any = None, error: RpcError | None = None
) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _valid_id(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, str)
        or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))
    )


@attrs.define
class Dispatcher:
    """Method table plus the JSON-RPC rules around it."""

    methods: dict[str, Handler]
    on_call: Callable[[str, str], None] | None = None  # (method, outcome) for metrics

    async def handle_frame(
        self, frame: str | bytes, caller: Caller, bucket: TokenBucket | None = None
    ) -> str | None:
        """One websocket frame in, the text to send back (or None for notifications)."""
        if isinstance(frame, bytes):
            try:
                frame = frame.decode("utf-8")
            except UnicodeDecodeError:
                return dumps(
                    _response(None, error=RpcError(PARSE_ERROR, "parse error: frame is not UTF-8"))
                )
        try:
            payload = json.loads(frame)
        except (ValueError, RecursionError):
            return dumps(
                _response(None, error=RpcError(PARSE_ERROR, "parse error: frame is not valid JSON"))
            )
        if isinstance(payload, list):
            if not payload:
                return dumps(
                    _response(None, error=RpcError(INVALID_REQUEST, "invalid request: empty batch"))
                )
            if len(payload) > MAX_BATCH:
                return dumps(
                    _response(
                        None,
                        error=RpcError(
                            INVALID_REQUEST,
                            f"invalid request: more than {MAX_BATCH} requests in a batch",
                        ),
                    )
                )
            replies = [
                r
                for r in [await self.handle_one(p, caller, bucket) for p in payload]
                if r is not None
            ]
            return dumps(replies) if replies else None
        reply = await self.handle_one(payload, caller, bucket)
        return dumps(reply) if reply is not None else None

    async def handle_one(
        self, payload: Any, caller: Caller, bucket: TokenBucket | None
    ) -> dict[str, Any] | None:
        if not isinstance(payload, dict):
            return _response(
                None,
                error=RpcError(
                    INVALID_REQUEST, "invalid request: expected a JSON-RPC 2.0 request object"
                ),
            )
        request_id = payload.get("id")
        notification = "id" not in payload
        if (
            payload.get("jsonrpc") != "2.0"
            or not isinstance(payload.get("method"), str)
            or not _valid_id(request_id)
        ):
            return _response(
                request_id if _valid_id(request_id) else None,
                error=RpcError(
                    INVALID_REQUEST,
                    'invalid request: needs jsonrpc "2.0", a string method '
                    "and a string or number id",
                ),
            )
        method = payload["method"]
        if bucket is not None and not bucket.take():
            self._count(method, "rate_limited")
            return (
                None
                if notification
                else _response(request_id, error=RpcError(RATE_LIMITED, "rate limited"))
            )
        try:
            result = await self.call(method, payload.get("params"), caller)
        except RpcError as exc:
            self._count(method, "error")
            return None if notification else _response(request_id, error=exc)
        self._count(method, "ok")
        return None if notification else _response(request_id, result=result)

    async def call(self, method: str, params: Any, caller: Caller) -> Any:
        """Run one method; every failure comes out as an :class:`RpcError`."""
        handler = self.methods.get(method)
        if handler is None:
            raise RpcError(METHOD_NOT_FOUND, f"unknown method: {method[:80]}")
        try:
            parsed = Params(params)
            return await handler(parsed, caller)
        except RpcError:
            raise
        except DBAPIError as exc:
            log.warning(
                "admin command %s: database error: %s",
                method,
                error_line(exc),
                extra={"event": "rpc.db_error", "method": method},
            )
            raise RpcError(INTERNAL_ERROR, "internal error: database unavailable") from None
        except Exception:
            log.exception(
                "admin command %s failed",
                method,
                extra={"event": "rpc.error", "method": method, "peer": caller.peer},
            )
            raise RpcError(INTERNAL_ERROR, "internal error") from None

    def _count(self, method: str, outcome: str) -> None:
        if self.on_call is not None:
            self.on_call(method if method in self.methods else "<unknown>", outcome)
