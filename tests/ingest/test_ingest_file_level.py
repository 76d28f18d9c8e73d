"""File-level rejections: only when nothing in the file can be trusted (loader docstring)."""

from __future__ import annotations

import datetime
import json
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from eventdedup.ingest import (
    FileRejected,
    LoadedFile,
    json_safe,
    load_file,
    source_code_from_filename,
)
from eventdedup.model import EventDate, Geo

NAME = "elt_25.02.2026_2026-02-25T10-00-00-000Z.json"


def rejected(data: bytes, name: str = NAME, **kwargs: Any) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        load_file(data, name, **kwargs)
    return info.value


def test_minimal_example_of_domain_1_6(minimal_file: dict[str, Any]) -> None:
    data = json.dumps(minimal_file, ensure_ascii=False).encode()
    loaded = load_file(data, NAME)

    assert isinstance(loaded, LoadedFile)
    assert loaded.source_code == "elt"
    assert loaded.event_count == 1 and loaded.rejected == () and loaded.warnings == ()
    assert loaded.metadata == minimal_file["metadata"]
    (event,) = loaded.events
    assert event.id == "pdf-9a2c5acd-2-2"
    assert event.source_code == "elt"
    assert event.source_type == "terminliste"
    assert event.title == "Grünen-Gespräch zur Landtagswahl"
    assert event.dates == (
        EventDate(date=datetime.date(2026, 2, 26), start_time=datetime.time(19, 0)),
    )
    assert event.categories == ("versammlung",)
    assert event.location is not None
    assert event.location.city == "Gutach im Breisgau"  # sanitiser wins, docs/domain.md §1.5
    assert event.location.printed_city == "Gutach"
    assert event.location.name == "Pferdestall, alter Gutshof"
    assert event.location.geo == Geo(latitude=48.117019, longitude=7.986537, confidence=0.7422)
    assert event.raw == minimal_file["events"][0]


def test_utf8_bom_is_accepted(minimal_file: dict[str, Any]) -> None:
    data = b"\xef\xbb\xbf" + json.dumps(minimal_file).encode()
    assert len(load_file(data, NAME).events) == 1


def test_offsets_count_the_bom() -> None:
    assert "byte 0xe4 at offset 5;" in rejected(b"\xef\xbb\xbf{ \xe4").reason
    assert "NUL byte at offset 4;" in rejected(b"\xef\xbb\xbf{\x00").reason


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "file is empty"),
        (b" \n\t ", "file is empty"),
        (b"\xef\xbb\xbf", "file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary data"),
        (b'{"events": ["\x00"]}', "NUL byte at offset 13"),
        ('{"events": [{"title": "Grünen"}]}'.encode("utf-16"), "UTF-16"),
        ('{"events": [{"title": "Grüne Straße"}]}'.encode("latin-1"), "not valid UTF-8"),
        (b'{"events": [{"id": "a"', "invalid JSON at line 1 column 23"),
        (b'{"events": [}', "invalid JSON at line 1 column 13"),
        (b'{"events": []}\n{"events": []}', "Extra data"),
        (b"[]", "top level must be an object with an 'events' array, got an array"),
        (b'"events"', "top level must be an object with an 'events' array, got a string"),
        (b"null", "got null"),
        (b'{"rejected": []}', "missing required key 'events'"),
        (b'{"events": {"id": "a"}}', "'events' must be an array, got an object"),
        (b'{"events": null}', "'events' must be an array, got null"),
        (b'{"events": [], "metadata": []}', "'metadata' must be an object, got an array"),
        (b'{"events": [], "metadata": "elt.pdf"}', "'metadata' must be an object, got a string"),
        (b'{"events": [], "events": [1]}', "top-level key 'events' appears twice"),
    ],
)
def test_file_level_rejections_name_the_problem(data: bytes, expected: str) -> None:
    assert expected in rejected(data).reason


def test_latin1_reason_gives_byte_and_offset() -> None:
    data = '{"events": [{"title": "Grüne"}]}'.encode("latin-1")
    offset = data.index(b"\xfc")
    assert rejected(data).reason.startswith(f"not valid UTF-8 (byte 0xfc at offset {offset};")


def test_truncated_file_hints_at_incomplete_write(minimal_file: dict[str, Any]) -> None:
    data = json.dumps(minimal_file).encode()
    for cut in (len(data) // 3, len(data) // 2, len(data) - 1):
        reason = rejected(data[:cut]).reason
        assert reason.startswith("invalid JSON at line 1 column ")
        assert "truncated" in reason


def test_invalid_json_reports_line_and_column() -> None:
    error = rejected(b'{\n  "events": [\n    {"id": "a" "title": "x"}\n  ]\n}')
    assert error.reason == "invalid JSON at line 3 column 16: Expecting ',' delimiter"
    assert error.json_path is None


def test_json_paths_of_structural_rejections() -> None:
    assert rejected(b"[]").json_path == "$"
    assert rejected(b"{}").json_path == "$"
    assert rejected(b'{"events": 3}').json_path == "$.events"
    assert rejected(b'{"events": [], "metadata": 1}').json_path == "$.metadata"


def test_metadata_null_or_absent_means_empty() -> None:
    assert load_file(b'{"events": [], "metadata": null}', NAME).metadata == {}
    assert load_file(b'{"events": []}', NAME).metadata == {}


def test_more_than_max_events_is_rejected(make_event: Callable[..., dict[str, Any]]) -> None:
    event = make_event()
    body = json.dumps(event)
    data = ('{"events": [' + ",".join([body] * 10_001) + "]}").encode()
    error = rejected(data)
    assert error.reason == "file has 10001 events; the limit is 10000"
    assert error.json_path == "$.events"


def test_max_events_is_configurable(make_event: Callable[..., dict[str, Any]]) -> None:
    data = json.dumps({"events": [make_event(i) for i in range(4)]}).encode()
    assert rejected(data, max_events=3).reason == "file has 4 events; the limit is 3"
    assert load_file(data, NAME, max_events=4).event_count == 4


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_ten_thousand_levels_of_nesting_is_a_clean_rejection(opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    deep = opener * 10_000 + "1" + closer * 10_000
    data = ('{"events": [], "metadata": {"x": ' + deep + "}}").encode()
    assert rejected(data).reason == "JSON nested deeper than 64 levels"
    # Unterminated, as a truncated file would be.
    assert rejected(("[" * 10_000).encode()).reason == "JSON nested deeper than 64 levels"


def test_nesting_limit_is_exact() -> None:
    def nested(levels: int) -> bytes:  # the top object + (levels - 1) arrays
        inner = "[" * (levels - 1) + "]" * (levels - 1)
        return ('{"events": [], "x": ' + inner + "}").encode()

    assert load_file(nested(64), NAME).event_count == 0
    assert "deeper than 64" in rejected(nested(65)).reason
    assert load_file(nested(65), NAME, max_depth=65).event_count == 0


def test_brackets_inside_strings_do_not_count_as_nesting(
    make_event: Callable[..., dict[str, Any]],
) -> None:
    event = make_event(title="[" * 500 + '\\"{' * 100, description="]]]}}}")
    loaded = load_file(json.dumps({"events": [event]}).encode(), NAME)
    assert len(loaded.events) == 1


def test_file_name_without_source_code_is_rejected() -> None:
    assert "empty source code" in rejected(b'{"events": []}', "_11.02.2026.json").reason


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("bwb_11.02.2026_2026-02-11T20-46-41-776Z.json", "bwb"),
        ("BWB_x.json", "bwb"),
        (" elz _x.json", "elz"),
        ("elt.json", "elt"),
        ("elt.JSON", "elt"),
        ("noext", "noext"),
        ("inbox/sub/rkt_a_b.json", "rkt"),
        ("Mu\u0308llheim_x.json", "m\u00fcllheim"),  # decomposed (macOS) → NFC
        ("_x.json", ""),
    ],
)
def test_source_code_from_filename(name: str, code: str) -> None:
    assert source_code_from_filename(name) == code


def test_file_rejected_is_picklable_and_readable() -> None:
    error = FileRejected("missing required key 'events'", "$")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.reason, clone.json_path) == (error.reason, error.json_path)
    assert str(clone) == "missing required key 'events' (at $)"


def test_nan_and_huge_numbers_do_not_reject_the_file(
    make_event: Callable[..., dict[str, Any]],
) -> None:
    body = json.dumps(make_event())[:-1] + ', "_debug": NaN, "_n": ' + "9" * 5000 + "}"
    data = ('{"events": [' + body + '], "metadata": {"x": Infinity}}').encode()
    loaded = load_file(data, NAME)
    assert len(loaded.events) == 1


def test_json_safe_makes_raw_storable() -> None:
    raw = {"a\x00": [float("nan"), float("inf"), 1.5, "x\x00\ud800y"], "n": None, "b": True}
    safe = json_safe(raw)
    assert safe == {"a": [None, None, 1.5, "x\ufffdy"], "n": None, "b": True}
    json.dumps(safe, allow_nan=False).encode("utf-8")  # strict JSON, encodable


def test_bytes_like_input(minimal_file: dict[str, Any]) -> None:
    data = json.dumps(minimal_file).encode()
    assert load_file(bytearray(data), NAME).event_count == 1
    assert load_file(memoryview(data), NAME).event_count == 1
