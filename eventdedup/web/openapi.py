"""OpenAPI for the REST routes: quart-schema serves ``/openapi.json``, we write the schemas.

Why hand-written fragments: quart-schema derives schemas from pydantic or
msgspec models, and neither is a dependency of the daemon.  The routes
validate their input with the same :class:`eventdedup.admin.rpc.Params`
checks as the JSON-RPC methods, and :func:`api_doc` attaches the matching
OpenAPI operation fragment (parameters, responses, security), which the
provider below merges into what quart-schema generates from the URL map.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from quart_schema import OpenAPIProvider
from werkzeug.routing.rules import Rule

F = TypeVar("F", bound=Callable[..., Any])

DOC_ATTRIBUTE = "_eventdedup_openapi"
BEARER = "bearerAuth"


def api_doc(**operation: Any) -> Callable[[F], F]:
    """Attach an OpenAPI operation fragment (merged over the generated one)."""

    def wrap(func: F) -> F:
        setattr(func, DOC_ATTRIBUTE, operation)
        return func

    return wrap


class FragmentProvider(OpenAPIProvider):
    """quart-schema's provider plus the fragments attached with :func:`api_doc`."""

    def build_paths(self, rule: Rule) -> tuple[dict, dict]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        fragment = getattr(func, DOC_ATTRIBUTE, None)
        if fragment:
            for operations in paths.values():
                for operation in operations.values():
                    path_params = [
                        p for p in operation.get("parameters", []) if p.get("in") == "path"
                    ]
                    operation.update(fragment)
                    documented = {
                        p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"
                    }
                    operation["parameters"] = [
                        p for p in path_params if p["name"] not in documented
                    ] + list(operation.get("parameters", []))
        return paths, components


# -- reusable pieces ---------------------------------------------------------------------------


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def json_response(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema or {"type": "object"}}},
    }


ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
UNAUTHORIZED = json_response("Missing or wrong admin token", ERROR)
BAD_REQUEST = json_response("Invalid parameter (the message names it)", ERROR)
NOT_FOUND = json_response("No such canonical event", ERROR)

TEXT_PARAM = {"type": "string", "maxLength": 200}
SEARCH_PARAMETERS = [
    query("q", TEXT_PARAM, "Title search: substring (case-insensitive) or trigram similarity"),
    query("city", TEXT_PARAM, "City, case-insensitive exact match"),
    query("category", TEXT_PARAM, "Category the event must carry"),
    query(
        "date_from",
        {"type": "string", "format": "date"},
        "Events ending on or after this date (ISO)",
    ),
    query(
        "date_to",
        {"type": "string", "format": "date"},
        "Events starting on or before this date (ISO)",
    ),
    query(
        "sort",
        {
            "type": "string",
            "enum": ["date", "title", "city", "source_count", "confidence", "updated", "relevance"],
        },
        "Sort key (default: relevance with q, else date)",
    ),
    query("order", {"type": "string", "enum": ["asc", "desc"]}, "Sort direction"),
    query("page", {"type": "integer", "minimum": 1, "maximum": 100000}, "Page, from 1"),
    query("size", {"type": "integer", "minimum": 1, "maximum": 200}, "Page size"),
]
EVENT_ITEM = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "city": {"type": ["string", "null"]},
        "first_date": {"type": ["string", "null"], "format": "date"},
        "last_date": {"type": ["string", "null"], "format": "date"},
        "categories": {"type": "array", "items": {"type": "string"}},
        "source_count": {"type": "integer"},
        "match_confidence": {"type": ["number", "null"]},
        "needs_review": {"type": "boolean"},
        "version": {"type": "integer"},
    },
}
SEARCH_RESULT = {
    "type": "object",
    "properties": {
        "items": {"type": "array", "items": EVENT_ITEM},
        "total": {"type": "integer"},
        "page": {"type": "integer"},
        "size": {"type": "integer"},
    },
    "required": ["items", "total", "page", "size"],
}
EVENT_DETAIL = {
    "type": "object",
    "properties": {
        "canonical": {"type": "object"},
        "sources": {"type": "array", "items": {"type": "object"}},
        "decisions": {"type": "array", "items": {"type": "object"}},
        "constraints": {"type": "array", "items": {"type": "object"}},
        "redirected_from": {"type": "integer"},
    },
    "required": ["canonical", "sources", "decisions"],
}
