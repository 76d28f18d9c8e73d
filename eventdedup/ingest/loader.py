"""Turn the bytes of one dropped file into validated value objects.

Pure: bytes and a file name in, :class:`LoadedFile` out, no filesystem, no
clock, no globals that change. The processor actor calls :func:`load_file`
from a worker thread; the only exception it needs to expect is
:class:`FileRejected` (the fuzz tests hold the loader to that).

Why two levels of rejection
===========================
The original rejected a whole file for one bad field (docs/domain.md §17 item 20):
a numeric zipcode or ``"19:00 Uhr"`` in one listing lost all 200 listings of
that issue. Here a file is rejected only when nothing in it can be trusted;
anything wrong *inside one event* quarantines just that event
(:class:`RejectedEvent`, kept verbatim so an operator can fix and re-drop it),
and the rest of the file proceeds.

File-level (:class:`FileRejected`, the whole file goes to dead letters):

* empty file (zero bytes or only whitespace);
* binary data (a NUL byte: JSON text never contains one; also catches UTF-16);
* not UTF-8 (the reason names the byte and its offset); a UTF-8 BOM is accepted
  and stripped;
* invalid or truncated JSON (line, column and the parser's message; a hint when
  the text ends early, i.e. the file was probably still being written, §17 item 18);
  duplicate keys with different values at the top level (``"events"`` twice;
  inside ``metadata`` the last one wins, as it is only stored);
* nesting deeper than ``max_depth`` (checked by a bracket scan *before*
  parsing, so 10,000 levels give a clean rejection, never a RecursionError);
* top level not an object; ``events`` missing or not an array; more than
  ``max_events`` events; ``metadata`` present but neither an object nor null
  (null counts as absent; the top-level ``rejected`` array is ignored, §1.2);
* a file name that yields an empty source code (``_foo.json``).

Event-level (:class:`RejectedEvent`, the event is quarantined):

* the event is not an object;
* any structural/type violation found by :data:`~eventdedup.ingest.schema.EVENT_SCHEMA`:
  missing or ill-typed ``id`` (must be a non-blank string), ``title``
  (string, may be empty) or ``source_type`` (string); a number where a string
  belongs (numeric zipcode); a bare string for ``categories``/``highlights``;
  a boolean field holding anything but a boolean, ``"true"``/``"false"`` or
  null (``"ja"``, ``1``); a date entry that is not an object or has no ``date``;
  a non-numeric ``confidence_score`` / ``geo`` value;
* ``source_type`` not one of :data:`~eventdedup.model.SOURCE_TYPES` (after
  trimming and lower-casing);
* a ``date``/``end_date`` that is not a real ISO date: ``YYYY-MM-DD`` or
  ``YYYYMMDD`` (§1.4) only, so ``12.02.2026``, ``2026-02-30`` and year 0 are
  quarantined; an ``end_date`` before its ``date``;
* a time that is not a time of day (``25:00``, ``24:00``, ``19:61``,
  ``"abends"``, ``"19-22 Uhr"``);
* an object inside the event with the same key twice and *different* values
  (ambiguous: which title is right?); identical repeats are harmless;
* an ``id`` already used by an earlier event of the same file: the first
  occurrence wins (even if it was itself quarantined for another reason, so the
  claim is deterministic and a fixed re-drop cannot silently collide); the
  reason names the first index.

When an event has several problems, the reason starts with the most relevant
one (``jsonschema``'s ``best_match``) and lists up to three more, so the
operator can fix them in one go; ``json_path`` points at the first.

Lenient where unambiguous (accepted without quarantine)
=======================================================
* Times: ``"19:00"``, ``"19:00:00"``, ``" 9:5 "`` (→ 09:05), and the German
  forms ``"19 Uhr"``, ``"19h"``, ``"19.00"``, ``"19.30 Uhr"``, ``"19:00 Uhr"``.
  With a dot the minutes must have two digits (``"19.5"`` could mean 19:05 or
  19:30). A bare ``"19"`` is rejected (an hour, or a house number?). Empty,
  blank or null → no time.
* Booleans: JSON booleans and the strings ``"true"``/``"false"`` (any case,
  surrounding blanks; §1.3). ``"ja"``/``"nein"``, numbers → quarantine.
* Numbers (``confidence_score``, ``geo.latitude``/``longitude``/``confidence``):
  JSON numbers or numeric strings (decimal point only; ``"48,117"`` is ambiguous).
* ``source_type`` case-insensitive with surrounding blanks.
* ``event_dates`` empty, missing or null → no dates (the event is stored but
  never compared). ``location``/``geo`` null or missing → none.
* Extra keys and underscore fields are accepted and kept in ``raw``.

Values of the right kind but implausible are dropped *with a warning*
(:class:`EventWarning`) instead of quarantining the event, because the event
is still useful without them and a wrong value is worse than none:

* ``geo``: latitude outside ±90, longitude outside ±180, non-finite (NaN,
  Infinity, ``1e999``), or exactly (0, 0) (a geocoder's "not found") → the
  whole ``geo`` is dropped, the event keeps its city for blocking.
  ``geo`` without latitude or longitude → no geo (no warning: simply absent).
* ``geo.confidence`` and ``confidence_score`` non-finite or outside [0, 1]
  → ``None``.

Text cleaning (value objects only; ``raw`` is never touched)
============================================================
Every string that goes into a value object is normalized to Unicode NFC (so
"Grünen" typed on macOS, which is decomposed, equals "Grünen" from Windows),
has ``\\r\\n``/``\\r`` turned into ``\\n``, loses all other control characters
(C0 except tab and newline, DEL, C1: PDF extraction leaves NULs and form
feeds, and PostgreSQL text cannot hold NUL), gets lone UTF-16 surrogates
(from ``"\\ud800"`` escapes, unencodable as UTF-8) replaced by U+FFFD, and is
trimmed. Optional strings that end up empty become ``None``; ``title`` stays
``""`` if empty (§1.3). Empty strings are dropped from ``highlights`` and
``categories``; repeated categories are kept once. ``id`` is cleaned the same
way, so duplicate detection sees the cleaned id. Case is left alone (that is
the normalizer's job, docs/domain.md §2).

``raw`` (and ``metadata``) are the parsed JSON exactly as in the file, which
means they may contain NUL characters, lone surrogates or NaN that strict
JSON / PostgreSQL ``jsonb`` cannot store; pass them through :func:`json_safe`
before storing them as JSON.

Effective city
==============
``Location.city`` is ``location._sanitizeResult.city`` when that is a
non-empty string (the address sanitiser's answer, §1.5), else
``location.city``; ``Location.printed_city`` is always ``location.city``.
A ``_sanitizeResult`` of any other shape is ignored, not quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any, Final, cast

import attrs
import fastjsonschema
from jsonschema.exceptions import ValidationError, best_match

from eventdedup.ingest.schema import EVENT_FAST_CHECK, EVENT_VALIDATOR
from eventdedup.jsonsafe import SURROGATE_RE, json_safe
from eventdedup.model import SOURCE_TYPES, EventDate, Geo, Location, SourceEvent
from eventdedup.pickling import fast_pickle

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_EVENTS",
    "EventWarning",
    "FileRejected",
    "LoadedFile",
    "RejectedEvent",
    "json_safe",
    "load_file",
    "parse_date",
    "parse_time",
    "source_code_from_filename",
]

DEFAULT_MAX_EVENTS: Final = 10_000
DEFAULT_MAX_DEPTH: Final = 64

#: How many further problems of one event are listed after the main one.
_MAX_EXTRA_PROBLEMS: Final = 3

_UTF8_BOM: Final = b"\xef\xbb\xbf"


# --------------------------------------------------------------------------
# Results


class FileRejected(Exception):
    """The whole file is unusable; it belongs in the dead-letter folder.

    ``reason`` is a sentence for an operator that names the problem;
    ``json_path`` is the JSONPath of the offending value when there is one
    (``"$.events"``), else ``None`` (encoding, syntax, size).
    """

    def __init__(self, reason: str, json_path: str | None = None) -> None:
        # Both go into args so the exception survives pickling (process pools).
        super().__init__(reason, json_path)
        self.reason = reason
        self.json_path = json_path

    def __str__(self) -> str:
        return self.reason if self.json_path is None else f"{self.reason} (at {self.json_path})"


@fast_pickle()
@attrs.frozen
class RejectedEvent:
    """One quarantined event of an otherwise accepted file.

    ``raw`` is the event exactly as parsed from the file (it may not even be
    an object), so it can be written back out for an operator to fix.
    """

    index: int
    event_id: str | None
    reason: str
    json_path: str
    raw: Any = attrs.field(eq=False, repr=False)


@fast_pickle()
@attrs.frozen
class EventWarning:
    """A value dropped from an accepted event (e.g. out-of-range geo); for logs and the UI."""

    index: int
    event_id: str
    message: str
    json_path: str


@fast_pickle()
@attrs.frozen
class LoadedFile:
    """Everything the loader learned from one file.

    ``event_count`` is the length of the file's ``events`` array, i.e.
    ``len(events) + len(rejected)``. ``metadata`` is the file's ``metadata``
    object verbatim (``{}`` when absent or null).
    """

    source_code: str
    events: tuple[SourceEvent, ...]
    rejected: tuple[RejectedEvent, ...]
    metadata: Mapping[str, Any]
    event_count: int
    warnings: tuple[EventWarning, ...] = ()


# --------------------------------------------------------------------------
# Public helpers


def source_code_from_filename(name: str) -> str:
    """Source code of a file name: the text before the first ``_`` (docs/domain.md §1.1).

    Without an underscore it is the name without its ``.json`` suffix (the
    original kept the suffix, which produced source codes like ``x.json``).
    Only the last path component counts; the result is NFC-normalized (macOS
    delivers decomposed umlauts in names), trimmed and lower-cased. May be
    ``""``; :func:`load_file` rejects such files.
    """
    base = PurePosixPath(name.replace("\\", "/")).name if name else ""
    base = unicodedata.normalize("NFC", base)
    if "_" in base:
        code = base.split("_", 1)[0]
    else:
        code = base[:-5] if base.lower().endswith(".json") else base
    return code.strip().lower()


# --------------------------------------------------------------------------
# Date and time parsing (public so the processor / API can reuse the same rules)

# Same separator twice (backreference): "2026-02-12" or "20260212", never "2026-0212".
_DATE_RE: Final = re.compile(r"\s*([0-9]{4})(-?)([0-9]{2})\2([0-9]{2})\s*")
_TIME_RE: Final = re.compile(
    r"""\s*
    (?P<h>[0-9]{1,2})
    (?:
        :(?P<m>[0-9]{1,2})(?::(?P<s>[0-9]{1,2}))?   # 19:00, 9:5, 19:00:00
      | \.(?P<dm>[0-9]{2})                          # 19.00, 19.30
    )?
    \s*(?P<uhr>[Uu][Hh][Rr]|[Hh])?\.?\s*            # Uhr, h
    """,
    re.VERBOSE,
)


def parse_date(text: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` or ``YYYYMMDD`` (docs/domain.md §1.4) into a real date.

    Raises ``ValueError`` with a readable message for anything else, including
    impossible dates (``2026-02-30``) and year 0. Other ISO forms Python
    accepts (week dates, ordinal dates) are refused: nobody writes them by
    accident and they are easy to misread.
    """
    m = _DATE_RE.fullmatch(text)
    if m is None:
        raise ValueError("is not an ISO date (expected YYYY-MM-DD)")
    year, month, day = int(m[1]), int(m[3]), int(m[4])
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise ValueError(f"is not a real date ({exc})") from None


def parse_time(text: str | None) -> dt.time | None:
    """Parse a time of day leniently; ``None``, ``""`` or blanks mean "no time".

    Accepts ``H:M``, ``H:M:S`` (1–2 digits each, §1.4), ``H.MM`` and an
    optional ``Uhr``/``h`` suffix (``"19.30 Uhr"``); an hour alone needs the
    suffix (``"19 Uhr"``). Raises ``ValueError`` for anything else and for
    values out of range (``24:00``, ``19:61``).
    """
    if text is None or not text.strip():
        return None
    m = _TIME_RE.fullmatch(text)
    if m is None or (m["m"] is None and m["dm"] is None and m["uhr"] is None):
        raise ValueError('is not a time of day (expected e.g. "19:00" or "19 Uhr")')
    hour = int(m["h"])
    minute = int(m["m"] or m["dm"] or 0)
    second = int(m["s"] or 0)
    if hour > 23:
        raise ValueError("is not a valid time of day (hour must be 0–23)")
    if minute > 59:
        raise ValueError("is not a valid time of day (minute must be 0–59)")
    if second > 59:
        raise ValueError("is not a valid time of day (second must be 0–59)")
    return dt.time(hour, minute, second)


# --------------------------------------------------------------------------
# File level


def load_file(
    data: bytes,
    filename: str,
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> LoadedFile:
    """Parse and validate one input file (format: docs/domain.md §1).

    Raises :class:`FileRejected` when the file as a whole is unusable (see the
    module docstring for the exact list); otherwise returns every valid event
    plus the quarantined ones, so one bad listing never costs the whole file.
    """
    source_code = source_code_from_filename(filename)
    if not source_code:
        raise FileRejected(
            f"file name {filename!r} gives an empty source code "
            "(expected '<source>_<date>_<timestamp>.json')"
        )
    text = _decode(bytes(data))
    _check_depth(text, max_depth)
    duplicates: dict[int, list[str]] = {}
    top = _parse_json(text, duplicates)

    if not isinstance(top, dict):
        raise FileRejected(
            f"top level must be an object with an 'events' array, got {_describe(top)}", "$"
        )
    if id(top) in duplicates:
        key = duplicates[id(top)][0]
        raise FileRejected(
            f"top-level key {key!r} appears twice with different values", _join("$", [key])
        )
    if "events" not in top:
        raise FileRejected("missing required key 'events'", "$")
    events = top["events"]
    if not isinstance(events, list):
        raise FileRejected(f"'events' must be an array, got {_describe(events)}", "$.events")
    if len(events) > max_events:
        raise FileRejected(f"file has {len(events)} events; the limit is {max_events}", "$.events")
    metadata = top.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise FileRejected(f"'metadata' must be an object, got {_describe(metadata)}", "$.metadata")

    accepted: list[SourceEvent] = []
    rejected: list[RejectedEvent] = []
    warnings: list[EventWarning] = []
    first_index_of: dict[str, int] = {}
    for index, raw in enumerate(events):
        outcome = _load_event(raw, index, source_code, duplicates, first_index_of, events)
        if isinstance(outcome, RejectedEvent):
            rejected.append(outcome)
        else:
            event, event_warnings = outcome
            accepted.append(event)
            warnings.extend(event_warnings)
    return LoadedFile(
        source_code=source_code,
        events=tuple(accepted),
        rejected=tuple(rejected),
        metadata=metadata,
        event_count=len(events),
        warnings=tuple(warnings),
    )


def _decode(data: bytes) -> str:
    """Bytes → text, with reasons an operator can act on (offsets count from the file start)."""
    skip = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
    body = data[skip:] if skip else data
    if not body or body.isspace():
        raise FileRejected("file is empty" if not body else "file is empty (only whitespace)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRejected("file is UTF-16 (byte-order mark at offset 0), not UTF-8")
    nul = data.find(b"\x00", skip)
    if nul != -1:
        raise FileRejected(
            f"binary data, not JSON text (NUL byte at offset {nul}; "
            "an image, an archive or UTF-16?)"
        )
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skip + exc.start
        raise FileRejected(
            f"not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset}; "
            "saved as Latin-1/Windows-1252?)"
        ) from None


# String literals (brackets inside them don't nest) and runs of non-brackets.
_JSON_STRING_RE: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NON_BRACKET_RE: Final = re.compile(r"[^\[\]{}]+")
_ONE_BRACKET_KIND: Final = str.maketrans("{}", "[]")


def _check_depth(text: str, max_depth: int) -> None:
    """Reject nesting deeper than ``max_depth`` without recursing.

    ``json.loads`` recurses per nesting level: 10,000 levels raise
    RecursionError on CPython 3.11 and may exhaust the C stack on other
    versions or in threads with small stacks. So first drop string literals,
    keep only the brackets (``{}`` mapped to ``[]``: nesting is the same, a
    mismatch is a syntax error the parser reports), then peel the innermost
    ``[]`` pairs one level per pass with C-speed ``str.replace`` (which does
    not rescan what it produced). Whatever is left after ``max_depth`` passes
    is nested deeper. A pass that changes nothing means unbalanced brackets,
    which the parser reports better. Cost: one regex pass over the text plus
    at most ``max_depth`` passes over the (much shorter) bracket string.
    """
    brackets = _NON_BRACKET_RE.sub("", _JSON_STRING_RE.sub("", text))
    brackets = brackets.translate(_ONE_BRACKET_KIND)
    too_deep = "[" * (max_depth + 1)
    for _ in range(max_depth):
        if not brackets:
            return
        if too_deep in brackets:
            break
        peeled = brackets.replace("[]", "")
        if len(peeled) == len(brackets):
            return
        brackets = peeled
    else:
        if "[]" not in brackets:
            return
    raise FileRejected(f"JSON nested deeper than {max_depth} levels")


def _parse_constant(name: str) -> float:
    """NaN / Infinity are not JSON, but Python writers emit them; read them as floats.

    A file is not rejected for them: inside an event they only matter where a
    number is used, and there the range checks drop them (see module docstring).
    """
    return float(name)


def _parse_int(literal: str) -> int | float:
    """Integers as usual, but one longer than Python's digit limit becomes a float (inf).

    Without this, one absurd number anywhere (say in an ignored ``_debug``
    field) would make ``json.loads`` raise and reject the whole file.
    """
    try:
        return int(literal)
    except ValueError:
        return float(literal)


def _parse_json(text: str, duplicates: dict[int, list[str]]) -> Any:
    """``json.loads`` that records objects with conflicting duplicate keys.

    ``duplicates`` maps ``id(obj)`` of every object that had the same key
    twice with *different* values to those keys; the objects stay alive in
    the parsed tree for the whole load, so the ids are stable.
    """

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj and obj[key] != value:
                obj_dups = duplicates.setdefault(id(obj), [])
                if key not in obj_dups:
                    obj_dups.append(key)
            obj[key] = value
        return obj

    try:
        return json.loads(
            text,
            object_pairs_hook=pairs_hook,
            parse_constant=_parse_constant,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        hint = ""
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            hint = " (the text ends early: truncated, or still being written?)"
        raise FileRejected(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except RecursionError:  # pragma: no cover - _check_depth prevents it
        raise FileRejected("JSON nested too deeply to parse") from None
    except ValueError as exc:  # pragma: no cover - defensive, json raises JSONDecodeError
        raise FileRejected(f"invalid JSON: {exc}") from None


# --------------------------------------------------------------------------
# Event level


_Warn = Callable[[str, Sequence[str | int]], None]


class _Quarantine(Exception):
    """Internal: this event must be quarantined (reason, path relative to the event)."""

    def __init__(self, reason: str, path: Sequence[str | int]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = list(path)


def _fast_valid(raw: Any) -> bool:
    try:
        EVENT_FAST_CHECK(raw)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _load_event(
    raw: Any,
    index: int,
    source_code: str,
    duplicates: Mapping[int, list[str]],
    first_index_of: dict[str, int],
    all_events: Sequence[Any],
) -> RejectedEvent | tuple[SourceEvent, list[EventWarning]]:
    """Validate and build one event, or say why it is quarantined."""
    base = f"$.events[{index}]"
    event_id = _claimable_id(raw)
    claimed_by = first_index_of.get(event_id) if event_id is not None else None
    if event_id is not None and claimed_by is None:
        first_index_of[event_id] = index

    def reject(reason: str, path: Sequence[str | int]) -> RejectedEvent:
        return RejectedEvent(
            index=index, event_id=event_id, reason=reason, json_path=_join(base, path), raw=raw
        )

    errors = [] if _fast_valid(raw) else list(EVENT_VALIDATOR.iter_errors(raw))
    if errors:
        reason, path = _schema_reason(errors)
        return reject(reason, path)
    if event_id is None:  # only control characters: blank once cleaned
        return reject(f"id {raw['id']!r} is blank once control characters are removed", ["id"])
    if claimed_by is not None:
        same = " with identical content" if raw == all_events[claimed_by] else ""
        return reject(
            f"duplicate id {event_id!r}: already used by the event at index {claimed_by}"
            f"{same} (the first occurrence wins)",
            ["id"],
        )
    dup_path = _find_duplicate_keys(raw, duplicates)
    if dup_path is not None:
        path, key = dup_path
        return reject(f"key {key!r} appears twice with different values", [*path, key])
    warnings: list[EventWarning] = []
    try:
        event = _build_event(raw, event_id, source_code, index, base, warnings)
    except _Quarantine as q:
        return reject(q.reason, q.path)
    return event, warnings


def _claimable_id(raw: Any) -> str | None:
    """The cleaned id an event claims in this file, if it has a usable one."""
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str):
            return _clean(value) or None
    return None


def _find_duplicate_keys(
    raw: Any, duplicates: Mapping[int, list[str]]
) -> tuple[list[str | int], str] | None:
    """Path and key of the first object inside ``raw`` with a conflicting duplicate key."""
    if not duplicates:
        return None
    stack: list[tuple[Any, list[str | int]]] = [(raw, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            if id(node) in duplicates:
                return path, duplicates[id(node)][0]
            stack.extend((v, [*path, k]) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, [*path, i]) for i, v in reversed(list(enumerate(node))))
    return None


def _schema_reason(errors: list[ValidationError]) -> tuple[str, list[str | int]]:
    """Readable reason and event-relative path from ``jsonschema`` errors."""
    best = best_match(errors)
    assert best is not None
    ordered = [best, *(e for e in errors if e is not best)]
    messages: list[str] = []
    seen_required: set[int] = set()
    for error in ordered:
        if error.validator == "required":
            if id(error.schema) in seen_required:
                continue  # one message lists every missing key of that object
            seen_required.add(id(error.schema))
        message = _error_message(error)
        if message not in messages:
            messages.append(message)
    reason = messages[0]
    extra = messages[1 : 1 + _MAX_EXTRA_PROBLEMS]
    if extra:
        more = len(messages) - 1 - len(extra)
        reason += "; also: " + "; ".join(extra) + (f"; and {more} more" if more else "")
    return reason, _error_path(best)


def _error_path(error: ValidationError) -> list[str | int]:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in cast("list[str]", error.validator_value) if k not in error.instance]
        if missing:
            path.append(missing[0])
    return path


def _error_message(error: ValidationError) -> str:
    path: list[str | int] = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in cast("list[str]", error.validator_value) if k not in error.instance]
        where = f" in {_label(path)}" if path else ""
        fields = ", ".join(repr(k) for k in missing)
        plural = "s" if len(missing) > 1 else ""
        return f"missing required field{plural} {fields}{where}"
    expected = error.schema.get("x-expected") if isinstance(error.schema, dict) else None
    if expected:
        return f"{_label(path)} must be {expected}, got {_describe(error.instance)}"
    return f"{_label(path)}: {error.message}"  # pragma: no cover - every leaf has x-expected


def _build_event(
    raw: dict[str, Any],
    event_id: str,
    source_code: str,
    index: int,
    base: str,
    warnings: list[EventWarning],
) -> SourceEvent:
    """Semantic parsing of a schema-valid event; raises :class:`_Quarantine`."""

    def warn(message: str, path: Sequence[str | int]) -> None:
        warnings.append(EventWarning(index, event_id, message, _join(base, path)))

    source_type = _clean(raw["source_type"]).lower()
    if source_type not in SOURCE_TYPES:
        raise _Quarantine(
            f"source_type {raw['source_type']!r} is not one of: {', '.join(SOURCE_TYPES)}",
            ["source_type"],
        )
    score = _number_in_unit_range(raw.get("confidence_score"), ["confidence_score"], warn)
    return SourceEvent(
        id=event_id,
        source_code=source_code,
        source_type=source_type,
        title=_clean(raw["title"]),
        short_description=_opt_str(raw.get("short_description")),
        description=_opt_str(raw.get("description")),
        highlights=_str_tuple(raw.get("highlights")),
        dates=tuple(_dates(raw.get("event_dates"))),
        location=_location(raw.get("location"), warn),
        categories=tuple(dict.fromkeys(_str_tuple(raw.get("categories")))),
        is_family_event=_flag(raw.get("is_family_event")),
        is_child_focused=_flag(raw.get("is_child_focused")),
        admission_free=_flag(raw.get("admission_free")),
        registration_required=_flag(raw.get("registration_required")),
        registration_contact=_opt_str(raw.get("registration_contact")),
        confidence_score=score,
        raw=raw,
    )


def _dates(entries: list[dict[str, Any]] | None) -> Iterator[EventDate]:
    for i, entry in enumerate(entries or ()):
        path: list[str | int] = ["event_dates", i]
        date = _date_field(entry["date"], [*path, "date"])
        end_value = entry.get("end_date")
        end_date = None
        if end_value is not None and end_value.strip():
            end_date = _date_field(end_value, [*path, "end_date"])
            if end_date < date:
                raise _Quarantine(
                    f"{_label([*path, 'end_date'])} {end_value!r} is before "
                    f"its date {entry['date']!r}",
                    [*path, "end_date"],
                )
        yield EventDate(
            date=date,
            start_time=_time_field(entry.get("start_time"), [*path, "start_time"]),
            end_time=_time_field(entry.get("end_time"), [*path, "end_time"]),
            end_date=end_date,
        )


def _date_field(value: str, path: list[str | int]) -> dt.date:
    try:
        return parse_date(value)
    except ValueError as exc:
        raise _Quarantine(f"{_label(path)} {value!r} {exc}", path) from None


def _time_field(value: str | None, path: list[str | int]) -> dt.time | None:
    try:
        return parse_time(value)
    except ValueError as exc:
        raise _Quarantine(f"{_label(path)} {value!r} {exc}", path) from None


def _location(loc: dict[str, Any] | None, warn: _Warn) -> Location | None:
    if loc is None:
        return None
    printed_city = _opt_str(loc.get("city"))
    city = printed_city
    sanitized = loc.get("_sanitizeResult")
    if isinstance(sanitized, dict) and isinstance(sanitized.get("city"), str):
        city = _opt_str(sanitized["city"]) or printed_city
    return Location(
        name=_opt_str(loc.get("name")),
        city=city,
        printed_city=printed_city,
        district=_opt_str(loc.get("district")),
        street=_opt_str(loc.get("street")),
        street_no=_opt_str(loc.get("street_no")),
        zipcode=_opt_str(loc.get("zipcode")),
        geo=_geo(loc.get("geo"), warn),
    )


def _geo(geo: dict[str, Any] | None, warn: _Warn) -> Geo | None:
    if geo is None:
        return None
    lat_raw, lon_raw = geo.get("latitude"), geo.get("longitude")
    if _blank(lat_raw) or _blank(lon_raw):
        return None
    lat, lon = _to_float(lat_raw), _to_float(lon_raw)
    path: list[str | int] = ["location", "geo"]
    if not (math.isfinite(lat) and math.isfinite(lon)):
        warn(f"geo dropped: non-finite coordinates ({lat_raw!r}, {lon_raw!r})", path)
        return None
    if abs(lat) > 90 or abs(lon) > 180:
        warn(f"geo dropped: coordinates out of range ({lat_raw!r}, {lon_raw!r})", path)
        return None
    if lat == 0 and lon == 0:
        warn("geo dropped: (0, 0) is a geocoder's 'not found', not a place", path)
        return None
    return Geo(
        latitude=lat,
        longitude=lon,
        confidence=_number_in_unit_range(geo.get("confidence"), [*path, "confidence"], warn),
        country=_opt_str(geo.get("country")),
    )


def _number_in_unit_range(value: Any, path: list[str | int], warn: _Warn) -> float | None:
    if _blank(value):
        return None
    number = _to_float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        warn(f"{_label(path)} dropped: {value!r} is not between 0 and 1", path)
        return None
    return number


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _to_float(value: Any) -> float:
    """A schema-checked number or numeric string as float (``"1e999"`` → inf)."""
    return float(value.strip() if isinstance(value, str) else value)


def _flag(value: Any) -> bool | None:
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value  # bool or None, guaranteed by the schema


# --------------------------------------------------------------------------
# Text cleaning

_CONTROL_RE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> str:
    """NFC, newlines unified, control chars removed, lone surrogates replaced, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = SURROGATE_RE.sub("\ufffd", _CONTROL_RE.sub("", text))
    return unicodedata.normalize("NFC", text).strip()


def _opt_str(value: str | None) -> str | None:
    if value is None:
        return None
    return _clean(value) or None


def _str_tuple(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(c for c in (_clean(v) for v in values or ()) if c)


# --------------------------------------------------------------------------
# Paths and descriptions

_PLAIN_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _path_suffix(parts: Iterable[str | int]) -> str:
    out = []
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY_RE.fullmatch(part):
            out.append(f".{part}")
        else:
            out.append("[" + json.dumps(part, ensure_ascii=False).replace('"', "'") + "]")
    return "".join(out)


def _join(base: str, parts: Iterable[str | int]) -> str:
    """JSONPath ``base`` + parts; unusual keys in bracket notation (``$['a b']``)."""
    return base + _path_suffix(parts)


def _label(parts: Sequence[str | int]) -> str:
    """Event-relative field name for reasons: ``event_dates[0].start_time``; ``event`` for root."""
    if not parts:
        return "event"
    return _path_suffix(parts).removeprefix(".")


def _describe(value: Any) -> str:
    """A JSON value as an operator would name it: ``a number (79098)``, ``a string ('ja')``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({_short(json.dumps(value))})"
    if isinstance(value, str):
        return f"a string ({_short(repr(value))})"
    if isinstance(value, list):
        return f"an array ({len(value)} item{'s' if len(value) != 1 else ''})"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json produces nothing else


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
