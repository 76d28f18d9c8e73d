"""Per-event quarantine: one bad listing never costs the rest of the file.

See docs/domain.md §17 item 20.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest

from eventdedup.ingest import LoadedFile, RejectedEvent, load_file, parse_date, parse_time

MakeEvent = Callable[..., dict[str, Any]]
NAME = "rkt_09.02.2026_2026-02-09T20-31-43-296Z.json"


def load(events: list[Any]) -> LoadedFile:
    return load_file(json.dumps({"events": events}).encode(), NAME)


def quarantine_one(make_event: MakeEvent, bad: Any) -> RejectedEvent:
    """Put ``bad`` between two valid events; exactly it must be quarantined."""
    loaded = load([make_event(0), bad, make_event(2)])
    assert [e.id for e in loaded.events] == ["ev-0", "ev-2"], loaded.rejected
    assert loaded.event_count == 3
    (rejected,) = loaded.rejected
    assert rejected.index == 1
    assert rejected.raw == bad
    return rejected


def with_location(make_event: MakeEvent, **location: Any) -> dict[str, Any]:
    event = make_event(1)
    event["location"] = {**event["location"], **location}
    return event


def with_date(make_event: MakeEvent, **entry: Any) -> dict[str, Any]:
    return make_event(1, event_dates=[{"date": "2026-02-12", **entry}])


# --- quarantines -------------------------------------------------------------------------------


def test_numeric_zipcode(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, with_location(make_event, zipcode=79098))
    assert r.json_path == "$.events[1].location.zipcode"
    assert r.reason == "location.zipcode must be a string or null, got a number (79098)"
    assert r.event_id == "ev-1"


def test_bare_string_categories(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, categories="musik"))
    assert r.json_path == "$.events[1].categories"
    assert r.reason == "categories must be an array of strings or null, got a string ('musik')"


def test_non_string_category_item(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, categories=["musik", 7]))
    assert r.json_path == "$.events[1].categories[1]"
    assert r.reason == "categories[1] must be a string, got a number (7)"


def test_ja_is_not_a_boolean(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, is_family_event="ja"))
    assert r.json_path == "$.events[1].is_family_event"
    assert r.reason.startswith("is_family_event must be a boolean")
    assert r.reason.endswith("got a string ('ja')")


def test_number_is_not_a_boolean(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, admission_free=1))
    assert r.json_path == "$.events[1].admission_free"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-02-30", "'2026-02-30' is not a real date (day is out of range for month)"),
        ("0000-01-01", "'0000-01-01' is not a real date (year 0 is out of range)"),
        ("2026-13-01", "is not a real date (month must be in 1..12)"),
        ("12.02.2026", "'12.02.2026' is not an ISO date (expected YYYY-MM-DD)"),
        ("2026-0212", "is not an ISO date"),
        ("2026-W07-4", "is not an ISO date"),
        ("2026-02-12T19:00:00", "is not an ISO date"),
        ("", "is not an ISO date"),
    ],
)
def test_bad_dates(make_event: MakeEvent, value: str, expected: str) -> None:
    r = quarantine_one(make_event, make_event(1, event_dates=[{"date": value}]))
    assert r.json_path == "$.events[1].event_dates[0].date"
    assert r.reason.startswith("event_dates[0].date ")
    assert expected in r.reason


def test_date_must_be_string_and_present(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, event_dates=[{"date": 20260212}]))
    assert r.json_path == "$.events[1].event_dates[0].date"
    assert "must be a date string" in r.reason
    r = quarantine_one(make_event, make_event(1, event_dates=[{"start_time": "19:00"}]))
    assert r.json_path == "$.events[1].event_dates[0].date"
    assert r.reason == "missing required field 'date' in event_dates[0]"
    r = quarantine_one(make_event, make_event(1, event_dates=["2026-02-12"]))
    assert r.json_path == "$.events[1].event_dates[0]"


def test_end_date_before_date(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, with_date(make_event, end_date="2026-02-11"))
    assert r.json_path == "$.events[1].event_dates[0].end_date"
    assert "is before its date" in r.reason


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("start_time", "25:00", "hour must be 0–23"),
        ("start_time", "24:00", "hour must be 0–23"),
        ("end_time", "24:00", "hour must be 0–23"),
        ("start_time", "19:61", "minute must be 0–59"),
        ("start_time", "19:00:60", "second must be 0–59"),
        ("start_time", "abends", "is not a time of day"),
        ("start_time", "19", "is not a time of day"),
        ("start_time", "19.5", "is not a time of day"),
        ("start_time", "19-22 Uhr", "is not a time of day"),
        ("end_time", "19:00+01:00", "is not a time of day"),
        ("start_time", "١٩:٠٠", "is not a time of day"),  # Arabic-Indic digits
    ],
)
def test_bad_times(make_event: MakeEvent, field: str, value: str, problem: str) -> None:
    r = quarantine_one(make_event, with_date(make_event, **{field: value}))
    assert r.json_path == f"$.events[1].event_dates[0].{field}"
    assert r.reason.startswith(f"event_dates[0].{field} {value!r} ")
    assert problem in r.reason


def test_time_of_wrong_type(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, with_date(make_event, start_time=1900))
    assert r.json_path == "$.events[1].event_dates[0].start_time"
    assert "got a number (1900)" in r.reason


def test_duplicate_id_first_occurrence_wins(make_event: MakeEvent) -> None:
    first = make_event(7, title="Erste")
    loaded = load([first, make_event(1), make_event(7, title="Zweite"), make_event(7)])
    assert [e.title for e in loaded.events if e.id == "ev-7"] == ["Erste"]
    assert [r.index for r in loaded.rejected] == [2, 3]
    r = loaded.rejected[0]
    assert r.json_path == "$.events[2].id"
    assert r.event_id == "ev-7"
    assert "duplicate id 'ev-7'" in r.reason and "index 0" in r.reason
    assert "identical" not in r.reason
    assert "index 0" in loaded.rejected[1].reason


def test_duplicate_of_identical_event_says_so(make_event: MakeEvent) -> None:
    loaded = load([make_event(0), make_event(0)])
    assert "with identical content" in loaded.rejected[0].reason


def test_duplicate_id_after_cleaning(make_event: MakeEvent) -> None:
    loaded = load([make_event(0, id="pdf-1"), make_event(1, id=" pdf-1\u0000 ")])
    assert [r.index for r in loaded.rejected] == [1]


def test_invalid_first_occurrence_still_claims_the_id(make_event: MakeEvent) -> None:
    loaded = load([make_event(0, title=None), make_event(0)])
    assert loaded.events == ()
    assert [r.index for r in loaded.rejected] == [0, 1]
    assert "title must be a string" in loaded.rejected[0].reason
    assert "duplicate id" in loaded.rejected[1].reason


def test_unknown_source_type(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, source_type="blog"))
    assert r.json_path == "$.events[1].source_type"
    assert r.reason == "source_type 'blog' is not one of: artikel, terminliste, anzeige"


def test_number_for_title(make_event: MakeEvent) -> None:
    r = quarantine_one(make_event, make_event(1, title=2026))
    assert r.json_path == "$.events[1].title"
    assert r.reason == "title must be a string, got a number (2026)"


@pytest.mark.parametrize(
    ("event", "path", "text"),
    [
        ("not an object", "$.events[1]", "event must be an object, got a string"),
        (None, "$.events[1]", "event must be an object, got null"),
        ([1, 2], "$.events[1]", "event must be an object, got an array (2 items)"),
        ({"title": "x", "source_type": "artikel"}, "$.events[1].id", "missing required field 'id'"),
        ({"id": "x"}, "$.events[1].title", "missing required fields 'title', 'source_type'"),
        ({"id": "", "title": "", "source_type": "artikel"}, "$.events[1].id", "non-empty"),
        ({"id": "   ", "title": "", "source_type": "artikel"}, "$.events[1].id", "non-empty"),
        ({"id": "\u0001", "title": "", "source_type": "artikel"}, "$.events[1].id", "blank"),
        ({"id": 5, "title": "", "source_type": "artikel"}, "$.events[1].id", "got a number"),
        ({"id": "x", "title": None, "source_type": "artikel"}, "$.events[1].title", "got null"),
        ({"id": "x", "title": "", "source_type": 1}, "$.events[1].source_type", "a string"),
    ],
)
def test_required_fields(make_event: MakeEvent, event: Any, path: str, text: str) -> None:
    r = quarantine_one(make_event, event)
    assert r.json_path == path
    assert text in r.reason


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"short_description": 5}, "$.events[1].short_description"),
        ({"highlights": [["nested"]]}, "$.events[1].highlights[0]"),
        ({"event_dates": {"date": "2026-02-12"}}, "$.events[1].event_dates"),
        ({"location": "Emmendingen"}, "$.events[1].location"),
        ({"confidence_score": "hoch"}, "$.events[1].confidence_score"),
        ({"confidence_score": True}, "$.events[1].confidence_score"),
        ({"registration_contact": ["a"]}, "$.events[1].registration_contact"),
    ],
)
def test_wrong_types_elsewhere(make_event: MakeEvent, overrides: dict[str, Any], path: str) -> None:
    assert quarantine_one(make_event, make_event(1, **overrides)).json_path == path


def test_wrong_geo_types(make_event: MakeEvent) -> None:
    r = quarantine_one(
        make_event, with_location(make_event, geo={"latitude": "48,1", "longitude": 7})
    )
    assert r.json_path == "$.events[1].location.geo.latitude"
    r = quarantine_one(make_event, with_location(make_event, geo=[48.1, 7.9]))
    assert r.json_path == "$.events[1].location.geo"


def test_several_problems_are_all_listed(make_event: MakeEvent) -> None:
    bad = with_location(make_event, zipcode=79098, street=12)
    bad["categories"] = "musik"
    r = quarantine_one(make_event, bad)
    assert r.reason.count(" must be ") == 3
    assert "; also: " in r.reason


def test_conflicting_duplicate_keys_quarantine_the_event(make_event: MakeEvent) -> None:
    good = json.dumps(make_event(0))
    same_twice = '{"id": "ev-1", "title": "A", "title": "A", "source_type": "artikel"}'
    conflict = (
        '{"id": "ev-2", "title": "A", "source_type": "artikel",'
        ' "location": {"city": "X", "city": "Y"}}'
    )
    data = f'{{"events": [{good}, {same_twice}, {conflict}]}}'.encode()
    loaded = load_file(data, NAME)
    assert [e.id for e in loaded.events] == ["ev-0", "ev-1"]
    (r,) = loaded.rejected
    assert r.json_path == "$.events[2].location.city"
    assert r.reason == "key 'city' appears twice with different values"


def test_odd_keys_are_quoted_in_json_paths(make_event: MakeEvent) -> None:
    bad = make_event(1, location={"city": "X", "geo": {"latitude": [1], "longitude": 7}})
    assert quarantine_one(make_event, bad).json_path == "$.events[1].location.geo.latitude"
    loaded = load_file(
        b'{"events": [{"id": "a", "title": "", "source_type": "artikel", "x": '
        b'{"a b": 1, "a b": 2}}]}',
        NAME,
    )
    assert loaded.rejected[0].json_path == "$.events[0].x['a b']"


# --- lenient forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19:00", dt.time(19, 0)),
        ("19:00:00", dt.time(19, 0)),
        ("19:00:30", dt.time(19, 0, 30)),
        (" 9:5 ", dt.time(9, 5)),
        ("0:00", dt.time(0, 0)),
        ("23:59", dt.time(23, 59)),
        ("19 Uhr", dt.time(19, 0)),
        ("19Uhr", dt.time(19, 0)),
        ("19 uhr.", dt.time(19, 0)),
        ("19h", dt.time(19, 0)),
        ("19.00", dt.time(19, 0)),
        ("19.30 Uhr", dt.time(19, 30)),
        ("9.30 Uhr", dt.time(9, 30)),
        ("19:00 Uhr", dt.time(19, 0)),
        ("19:11 UHR", dt.time(19, 11)),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_lenient_times(make_event: MakeEvent, text: str | None, expected: dt.time | None) -> None:
    assert parse_time(text) == expected
    loaded = load([with_date(make_event, start_time=text, end_time=text)])
    assert loaded.rejected == ()
    (date,) = loaded.events[0].dates
    assert (date.start_time, date.end_time) == (expected, expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-12", dt.date(2026, 2, 12)),
        ("20260212", dt.date(2026, 2, 12)),
        (" 2026-02-12 ", dt.date(2026, 2, 12)),
        ("2024-02-29", dt.date(2024, 2, 29)),
    ],
)
def test_accepted_dates(text: str, expected: dt.date) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (None, None),
        ("true", True),
        ("false", False),
        (" TRUE ", True),
        ("False", False),
    ],
)
def test_boolean_coercion(make_event: MakeEvent, value: Any, expected: bool | None) -> None:
    loaded = load([make_event(0, is_child_focused=value, registration_required=value)])
    event = loaded.events[0]
    assert event.is_child_focused is expected
    assert event.registration_required is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.85, 0.85), ("0.85", 0.85), (" 1 ", 1.0), (1, 1.0), (None, None), ("", None)],
)
def test_confidence_score_coercion(make_event: MakeEvent, value: Any, expected: Any) -> None:
    loaded = load([make_event(0, confidence_score=value)])
    assert loaded.rejected == ()
    assert loaded.events[0].confidence_score == expected


def test_geo_from_numeric_strings(make_event: MakeEvent) -> None:
    event = with_location(
        make_event, geo={"latitude": "48.1", "longitude": " 7.9", "confidence": "1"}
    )
    geo = load([event]).events[0].location.geo  # type: ignore[union-attr]
    assert geo is not None and (geo.latitude, geo.longitude, geo.confidence) == (48.1, 7.9, 1.0)


@pytest.mark.parametrize(
    "geo",
    [
        {"latitude": 123.0, "longitude": 7.9},
        {"latitude": 48.1, "longitude": -181},
        {"latitude": 0, "longitude": 0},
        {"latitude": "1e999", "longitude": 7.9},
    ],
)
def test_implausible_geo_is_dropped_with_a_warning(make_event: MakeEvent, geo: Any) -> None:
    loaded = load([make_event(0), with_location(make_event, geo=geo)])
    assert loaded.rejected == ()
    event = loaded.events[1]
    assert event.location is not None and event.location.geo is None
    assert event.location.city == "Gutach im Breisgau"
    (warning,) = loaded.warnings
    assert (warning.index, warning.event_id) == (1, "ev-1")
    assert warning.json_path == "$.events[1].location.geo"
    assert warning.message.startswith("geo dropped")


def test_geo_without_coordinates_is_absent(make_event: MakeEvent) -> None:
    loaded = load([with_location(make_event, geo={"latitude": None, "confidence": 0.5})])
    assert loaded.events[0].location.geo is None  # type: ignore[union-attr]
    assert loaded.warnings == ()


def test_out_of_range_confidences_become_none(make_event: MakeEvent) -> None:
    event = with_location(make_event, geo={"latitude": 48.1, "longitude": 7.9, "confidence": 74})
    event["confidence_score"] = -0.5
    loaded = load([event])
    assert loaded.events[0].confidence_score is None
    assert loaded.events[0].location.geo.confidence is None  # type: ignore[union-attr]
    assert {w.json_path for w in loaded.warnings} == {
        "$.events[0].confidence_score",
        "$.events[0].location.geo.confidence",
    }


def test_nan_confidence_becomes_none(make_event: MakeEvent) -> None:
    body = json.dumps(make_event(0))[:-1] + ', "confidence_score": NaN}'
    loaded = load_file(('{"events": [' + body + "]}").encode(), NAME)
    assert loaded.events[0].confidence_score is None
    assert len(loaded.warnings) == 1


def test_source_type_is_case_insensitive(make_event: MakeEvent) -> None:
    assert load([make_event(0, source_type=" Artikel ")]).events[0].source_type == "artikel"


def test_optional_things_may_be_missing_or_null(make_event: MakeEvent) -> None:
    minimal = {"id": "m", "title": "", "source_type": "anzeige"}
    nulls = {
        **minimal,
        "id": "n",
        "event_dates": None,
        "location": None,
        "categories": None,
        "highlights": None,
        "description": None,
        "geo": None,
        "confidence_score": None,
    }
    loaded = load([minimal, nulls, make_event(0, event_dates=[])])
    assert loaded.rejected == ()
    assert all(e.dates == () for e in loaded.events)
    assert loaded.events[0].title == ""
    assert loaded.events[0].location is None


def test_extra_and_underscore_keys_are_kept_in_raw(make_event: MakeEvent) -> None:
    event = make_event(0, _batch_index=1, _sanitized=True, extra={"anything": [1, None]})
    event["location"]["_sanitizeResult"]["matchType"] = "exact"
    loaded = load([event])
    assert loaded.rejected == ()
    assert loaded.events[0].raw == event


def test_effective_city(make_event: MakeEvent) -> None:
    def city(**location: Any) -> tuple[str | None, str | None]:
        loc = load([make_event(0, location=location)]).events[0].location
        assert loc is not None
        return loc.city, loc.printed_city

    assert city(city="Gutach", _sanitizeResult={"city": "Gutach im Breisgau"}) == (
        "Gutach im Breisgau",
        "Gutach",
    )
    assert city(city="Gutach", _sanitizeResult={"city": "  "}) == ("Gutach", "Gutach")
    assert city(city="Gutach", _sanitizeResult={"city": None}) == ("Gutach", "Gutach")
    assert city(city="Gutach", _sanitizeResult={"city": 5}) == ("Gutach", "Gutach")
    assert city(city="Gutach", _sanitizeResult="weird") == ("Gutach", "Gutach")
    assert city(city=None, _sanitizeResult={"city": "Elzach"}) == ("Elzach", None)
    assert city(city=None) == (None, None)


def test_text_cleaning(make_event: MakeEvent) -> None:
    event = make_event(
        0,
        title="  Gru\u0308nen\u0000-Gespräch\x0c ",
        description="Zeile 1\r\nZeile 2\rZeile 3\tTab\u0085",
        short_description="   ",
        highlights=["", " Musik ", "\u0007"],
        categories=["musik", "musik ", "fest", ""],
        location={"city": "\ud800Elzach"},
    )
    loaded = load([event])
    e = loaded.events[0]
    assert e.title == "Grünen-Gespräch"
    assert e.title == "Gr\u00fcnen-Gespr\u00e4ch"
    assert e.description == "Zeile 1\nZeile 2\nZeile 3\tTab"
    assert e.short_description is None
    assert e.highlights == ("Musik",)
    assert e.categories == ("musik", "fest")
    assert e.location is not None and e.location.city == "\ufffdElzach"
    assert e.raw == event  # raw is never cleaned


def test_everything_rejected_still_loads(make_event: MakeEvent) -> None:
    loaded = load([1, "x", None])
    assert loaded.events == () and len(loaded.rejected) == 3 and loaded.event_count == 3


def test_empty_events_array() -> None:
    loaded = load_file(b'{"events": []}', NAME)
    assert (loaded.events, loaded.rejected, loaded.event_count) == ((), (), 0)
