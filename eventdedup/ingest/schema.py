"""JSON Schema (Draft 2020-12) for one event object of an input file (docs/domain.md §1.3–1.5).

Why a schema at all: the structural and type rules of an event (which keys are
required, which values must be strings, arrays of strings, booleans, numbers)
are declarative, and ``jsonschema`` reports *every* violation with its exact
location, which the loader turns into a per-event quarantine reason and a
JSONPath. Semantic checks that a schema cannot express well (is ``2026-02-30``
a real date, is ``"19.30 Uhr"`` a time of day, is ``source_type`` known, are
ids unique in the file) are done in code in :mod:`eventdedup.ingest.loader`.

Conventions of this schema:

* Every subschema that constrains a value carries an ``x-expected`` annotation,
  a short noun phrase ("a string or null"). Validators ignore unknown keywords;
  the loader uses it to say *what was expected* in the reason text
  ("location.zipcode must be a string or null, got a number (79098)").
* Optional fields accept ``null`` as "absent", because the extractor writes
  ``null`` for missing values (see the dev corpus).
* The lenient coercions the input format allows are expressed here as a
  string ``pattern`` next to the real type: ``"true"``/``"false"`` for booleans
  (§1.3) and numeric strings for numbers (§1.3 ``confidence_score``, §1.5
  ``geo``). ``pattern`` only applies to strings, so a JSON boolean or number
  is checked by ``type`` alone.
* Unknown keys and underscore fields (``_batch_index``, ``_sanitized``, …)
  are allowed everywhere and never inspected, so extractor additions do not
  quarantine events. ``location._sanitizeResult`` is deliberately unconstrained:
  it is an upstream tool's output whose shape we do not own; the loader only
  reads its ``city`` when that is a non-empty string.
* No ``enum`` for ``source_type``: the loader accepts it case-insensitively
  and with surrounding blanks (``" Artikel "``), which ``enum`` cannot express.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import fastjsonschema
from jsonschema import Draft202012Validator

#: ``"true"`` / ``"false"`` in any letter case, surrounded by optional blanks.
#: Written without inline flags so it is valid ECMA-262 as well as Python.
BOOL_STRING_PATTERN: Final = r"^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\s*$"

#: A plain decimal number as a string (``"0.85"``, ``" 48.117 "``, ``"-1e-3"``), or a
#: blank string, which means "no value" like null. A decimal comma is *not* accepted:
#: ``"48,117"`` could mean 48.117 or 48117.
NUMBER_STRING_PATTERN: Final = r"^\s*([+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?)?\s*$"


def _string_or_null() -> dict[str, Any]:
    return {"type": ["string", "null"], "x-expected": "a string or null"}


def _flag() -> dict[str, Any]:
    return {
        "type": ["boolean", "string", "null"],
        "pattern": BOOL_STRING_PATTERN,
        "x-expected": 'a boolean (true/false, or the string "true"/"false") or null',
    }


def _number_like() -> dict[str, Any]:
    return {
        "type": ["number", "string", "null"],
        "pattern": NUMBER_STRING_PATTERN,
        "x-expected": "a number, a numeric string or null",
    }


def _string_list() -> dict[str, Any]:
    return {
        "type": ["array", "null"],
        "items": {"type": "string", "x-expected": "a string"},
        "x-expected": "an array of strings or null",
    }


def _time() -> dict[str, Any]:
    return {"type": ["string", "null"], "x-expected": 'a time string like "19:00", or null'}


DATE_ENTRY_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "x-expected": "an object with a 'date'",
    "required": ["date"],
    "properties": {
        "date": {"type": "string", "x-expected": 'a date string ("YYYY-MM-DD")'},
        "end_date": {"type": ["string", "null"], "x-expected": "a date string or null"},
        "start_time": _time(),
        "end_time": _time(),
    },
}

GEO_SCHEMA: Final[dict[str, Any]] = {
    "type": ["object", "null"],
    "x-expected": "an object or null",
    "properties": {
        "latitude": _number_like(),
        "longitude": _number_like(),
        "confidence": _number_like(),
        "country": _string_or_null(),
    },
}

LOCATION_SCHEMA: Final[dict[str, Any]] = {
    "type": ["object", "null"],
    "x-expected": "an object or null",
    "properties": {
        "name": _string_or_null(),
        "city": _string_or_null(),
        "district": _string_or_null(),
        "street": _string_or_null(),
        "street_no": _string_or_null(),
        "zipcode": _string_or_null(),
        "geo": GEO_SCHEMA,
    },
}

EVENT_SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "urn:eventdedup:input:event",
    "title": "One event of an input file (docs/domain.md §1.3)",
    "type": "object",
    "x-expected": "an object",
    "required": ["id", "title", "source_type"],
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "pattern": r"\S",
            "x-expected": "a non-empty string",
        },
        "title": {"type": "string", "x-expected": "a string"},
        "source_type": {"type": "string", "x-expected": "a string"},
        "short_description": _string_or_null(),
        "description": _string_or_null(),
        "highlights": _string_list(),
        "categories": _string_list(),
        "event_dates": {
            "type": ["array", "null"],
            "items": DATE_ENTRY_SCHEMA,
            "x-expected": "an array of date objects or null",
        },
        "location": LOCATION_SCHEMA,
        "is_family_event": _flag(),
        "is_child_focused": _flag(),
        "admission_free": _flag(),
        "registration_required": _flag(),
        "registration_contact": _string_or_null(),
        "confidence_score": _number_like(),
    },
}

Draft202012Validator.check_schema(EVENT_SCHEMA)

#: Shared, stateless validator (``iter_errors`` is safe to call from several threads).
EVENT_VALIDATOR: Final = Draft202012Validator(EVENT_SCHEMA)


def _compile_fast_check() -> Callable[[Any], Any]:
    """The same schema compiled to Python code by ``fastjsonschema``.

    Almost every event is valid, and ``jsonschema``'s interpreter costs about
    0.7 ms per event — more than matching it.  The compiled check answers "valid
    or not" in a few microseconds; only an invalid event is run through
    ``EVENT_VALIDATOR`` to explain *why*.  The schema uses only keywords both
    libraries implement identically (type, properties, required, items,
    pattern, minLength); ``$schema`` is dropped because fastjsonschema knows
    drafts up to 7, which read these keywords the same way.
    """
    schema = {k: v for k, v in EVENT_SCHEMA.items() if k != "$schema"}
    return fastjsonschema.compile(schema)


#: ``EVENT_FAST_CHECK(event)`` returns normally for a valid event and raises
#: ``fastjsonschema.JsonSchemaException`` otherwise.
EVENT_FAST_CHECK: Final = _compile_fast_check()
