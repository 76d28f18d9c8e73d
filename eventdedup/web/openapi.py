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


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _object(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    """An object with these properties; others may be added in later versions."""
    return {"type": "object", "properties": properties, "required": required}


STRINGS = {"type": "array", "items": {"type": "string"}}
DATE = {"type": "string", "format": "date"}
TIMESTAMP = _nullable("string", format="date-time")
TEXT = _nullable("string")
NUMBER = _nullable("number")
FLAG = _nullable("boolean")
#: One line of ``event_dates``/``dates``: a day or a multi-day range, times optional.
DATE_LINE = _object(
    ["date"],
    date=DATE,
    start_time=_nullable("string", description="HH:MM:SS"),
    end_time=_nullable("string", description="HH:MM:SS"),
    end_date=_nullable("string", format="date"),
)
EVENT_ITEM = _object(
    [
        "id",
        "title",
        "city",
        "first_date",
        "last_date",
        "categories",
        "source_count",
        "match_confidence",
        "needs_review",
        "version",
    ],
    id={"type": "integer"},
    title={"type": "string"},
    city=TEXT,
    first_date=_nullable("string", format="date"),
    last_date=_nullable("string", format="date"),
    categories=STRINGS,
    source_count={"type": "integer"},
    match_confidence=NUMBER,
    needs_review={"type": "boolean"},
    version={"type": "integer"},
)
SEARCH_RESULT = _object(
    ["items", "total", "page", "size"],
    items={"type": "array", "items": EVENT_ITEM},
    total={"type": "integer"},
    page={"type": "integer"},
    size={"type": "integer"},
)
#: The synthesized event: the best value of every field, each naming its source.
CANONICAL = _object(
    ["id", "title", "dates", "source_count", "member_ids", "version", "needs_review"],
    id={"type": "integer"},
    title={"type": "string"},
    short_description=TEXT,
    description=TEXT,
    highlights=STRINGS,
    categories=STRINGS,
    location_name=TEXT,
    location_city=TEXT,
    location_district=TEXT,
    location_street=TEXT,
    location_zipcode=TEXT,
    geo_latitude=NUMBER,
    geo_longitude=NUMBER,
    geo_confidence=NUMBER,
    dates={"type": "array", "items": DATE_LINE},
    first_date=_nullable("string", format="date"),
    last_date=_nullable("string", format="date"),
    is_family_event=FLAG,
    is_child_focused=FLAG,
    admission_free=FLAG,
    member_ids=STRINGS,
    source_count={"type": "integer"},
    match_confidence=NUMBER,
    needs_review={"type": "boolean"},
    provenance={
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "field -> id of the source event its value came from",
    },
    version={"type": "integer"},
    created_at=TIMESTAMP,
    updated_at=TIMESTAMP,
)
#: A stored source event as the file described it (normalized), with the file's name.
SOURCE_EVENT = _object(
    ["id", "source_code", "source_type", "title", "dates", "file"],
    id={"type": "string"},
    source_code={"type": "string"},
    source_type={"type": "string"},
    title={"type": "string"},
    short_description=TEXT,
    description=TEXT,
    highlights=STRINGS,
    location_name=TEXT,
    location_city=TEXT,
    location_printed_city=TEXT,
    location_district=TEXT,
    location_street=TEXT,
    location_street_no=TEXT,
    location_zipcode=TEXT,
    geo_latitude=NUMBER,
    geo_longitude=NUMBER,
    geo_confidence=NUMBER,
    geo_country=TEXT,
    categories=STRINGS,
    is_family_event=FLAG,
    is_child_focused=FLAG,
    admission_free=FLAG,
    registration_required=FLAG,
    registration_contact=TEXT,
    confidence_score=NUMBER,
    canonical_id=_nullable("integer"),
    created_at=TIMESTAMP,
    file={"type": "string"},
    dates={"type": "array", "items": DATE_LINE},
)
#: The matcher's verdict on one pair of the canonical's sources, with its signals.
DECISION = _object(
    ["a_id", "b_id", "decision"],
    a_id={"type": "string"},
    b_id={"type": "string"},
    date=NUMBER,
    geo=NUMBER,
    title=NUMBER,
    description=NUMBER,
    combined=NUMBER,
    decision={"type": "string", "enum": ["match", "ambiguous", "no_match"]},
    reason=TEXT,
    tier=TEXT,
)
#: An operator's decision the matcher must respect (review.keep_separate, merges).
CONSTRAINT = _object(
    ["a_id", "b_id", "kind"],
    a_id={"type": "string"},
    b_id={"type": "string"},
    kind={"type": "string"},
    operator=TEXT,
    created_at=TIMESTAMP,
)
EVENT_DETAIL = _object(
    ["canonical", "sources", "decisions", "constraints"],
    canonical=CANONICAL,
    sources={"type": "array", "items": SOURCE_EVENT},
    decisions={"type": "array", "items": DECISION},
    constraints={"type": "array", "items": CONSTRAINT},
    redirected_from={
        "type": "integer",
        "description": "The id asked for, when it was merged into this event",
    },
)
#: ``format=events``: the canonical events in the drop-folder format (docs/domain.md §1).
EXPORT_EVENT = _object(
    ["id", "title", "event_dates", "location", "source_type", "categories", "source_ids"],
    id={"type": "string", "description": "canonical-<id>"},
    title={"type": "string"},
    short_description=TEXT,
    description=TEXT,
    highlights=STRINGS,
    event_dates={"type": "array", "items": DATE_LINE},
    location={"type": "object"},
    source_type={"type": "string", "enum": ["terminliste"]},
    categories=STRINGS,
    is_family_event=FLAG,
    is_child_focused=FLAG,
    admission_free=FLAG,
    source_ids=STRINGS,
    match_confidence=NUMBER,
)
EXPORT_EVENTS = _object(
    ["events", "rejected", "metadata"],
    events={"type": "array", "items": EXPORT_EVENT},
    rejected={"type": "array", "maxItems": 0},
    metadata=_object(
        ["sourceKey", "eventCount"], sourceKey={"type": "string"}, eventCount={"type": "integer"}
    ),
)
#: ``format=clusters``: every stored source event id in exactly one cluster.
EXPORT_CLUSTERS = _object(
    ["clusters"],
    clusters={"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
)
EXPORT = {"oneOf": [EXPORT_EVENTS, EXPORT_CLUSTERS]}
ACTOR = _object(
    ["name", "state", "restarts"],
    name={"type": "string"},
    state={"type": "string"},
    restarts={"type": "integer"},
    restart_policy={"type": "string"},
    last_error=TEXT,
    last_error_at=TIMESTAMP,
    since=TIMESTAMP,
)
HEALTH = _object(
    ["status", "reasons", "actors", "database"],
    status={"type": "string", "enum": ["ok", "unavailable"]},
    reasons={"type": "array", "items": {"type": "string"}, "description": "why not ready"},
    actors={"type": "array", "items": ACTOR},
    database={"type": "object"},
)
