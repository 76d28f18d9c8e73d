"""Fuzzing: whatever bytes arrive, the loader answers with a LoadedFile or FileRejected.

A crash (KeyError, TypeError, RecursionError, …) in the loader would stop the
processor from dead-lettering the file, so the only exception allowed out of
``load_file`` is ``FileRejected``, and an accepted file's bookkeeping must add up.
"""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventdedup.ingest import FileRejected, LoadedFile, load_file
from eventdedup.ingest.files import read_limited, write_rejected_events

NAME = "bwb_11.02.2026_2026-02-11T20-46-41-776Z.json"
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Values the input format uses, plus their typical wrong forms.
interesting_strings = st.sampled_from(
    [
        "",
        " ",
        "19:00",
        "24:00",
        "19 Uhr",
        "19.30 Uhr",
        "2026-02-30",
        "20260212",
        "true",
        "ja",
        "0.85",
        "1e999",
        "artikel",
        "NaN",
        "\x00",
        "\ud800",
        "ü",
        "u\u0308",
        "[{",
    ]
)
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | interesting_strings
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | interesting_strings, children, max_size=4)
    ),
    max_leaves=25,
)


Factory = Callable[[], dict[str, Any]]


def base_document(factory: Factory) -> dict[str, Any]:
    """The docs/domain.md §1.6 example with a second event using the lenient date/time forms."""
    doc = factory()
    second = copy.deepcopy(doc["events"][0])
    second["id"] = "pdf-9a2c5acd-2-3"
    second["event_dates"].append({"date": "20260227", "start_time": "19.30 Uhr", "end_time": None})
    doc["events"].append(second)
    return doc


def containers(node: Any, out: list[Any]) -> list[Any]:
    """Every dict/list inside ``node`` (including itself), depth-first."""
    if isinstance(node, dict | list):
        out.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            containers(child, out)
    return out


@st.composite
def mutated_documents(draw: st.DrawFn, factory: Factory) -> Any:
    """The §1.6 example (two events) with 1–4 random edits: replace, delete or add a value."""
    doc: Any = base_document(factory)
    for _ in range(draw(st.integers(1, 4))):
        targets = containers(doc, [])
        if not targets:
            return doc
        target = draw(st.sampled_from(targets))
        action = draw(st.sampled_from(["replace", "delete", "add", "replace_root"]))
        if action == "replace_root" and draw(st.integers(0, 9)) == 0:
            doc = draw(json_values)
        elif isinstance(target, dict):
            keys = sorted(target)
            if action == "add" or not keys:
                target[draw(st.text(max_size=8) | interesting_strings)] = draw(json_values)
            elif action == "delete":
                del target[draw(st.sampled_from(keys))]
            else:
                target[draw(st.sampled_from(keys))] = draw(json_values)
        else:
            if action == "add" or not target:
                target.insert(draw(st.integers(0, len(target))), draw(json_values))
            elif action == "delete":
                del target[draw(st.integers(0, len(target) - 1))]
            else:
                target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
    return doc


def encode(doc: Any) -> bytes:
    # ensure_ascii keeps lone surrogates encodable; NaN/Infinity are written as Python does.
    return json.dumps(doc, ensure_ascii=True).encode("ascii")


def check_invariants(loaded: LoadedFile) -> None:
    assert loaded.source_code
    assert loaded.event_count == len(loaded.events) + len(loaded.rejected)
    indices = [r.index for r in loaded.rejected]
    assert indices == sorted(set(indices))
    assert all(0 <= i < loaded.event_count for i in indices)
    assert all(r.json_path.startswith(f"$.events[{r.index}]") for r in loaded.rejected)
    assert all(r.reason for r in loaded.rejected)
    ids = [e.id for e in loaded.events]
    assert len(ids) == len(set(ids))
    assert all(e.id and e.source_code == loaded.source_code for e in loaded.events)


def load_or_reject(data: bytes, name: str = NAME) -> LoadedFile | None:
    try:
        loaded = load_file(data, name)
    except FileRejected as exc:
        assert exc.reason
        return None
    check_invariants(loaded)
    return loaded


@FUZZ
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    load_or_reject(data)


@FUZZ
@given(data=st.data())
def test_corrupted_valid_file(data: st.DataObject, minimal_file_factory: Factory) -> None:
    """Byte-level damage to a valid file: truncation, flipped and inserted bytes."""
    raw = bytearray(encode(base_document(minimal_file_factory)))
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw)))
        kind = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
        if kind == "truncate":
            del raw[pos:]
        elif kind == "flip" and pos < len(raw):
            raw[pos] = data.draw(st.integers(0, 255))
        else:
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    load_or_reject(bytes(raw))


@FUZZ
@given(json_values)
def test_arbitrary_json(doc: Any) -> None:
    load_or_reject(encode(doc))
    load_or_reject(encode({"events": doc if isinstance(doc, list) else [doc]}))


@FUZZ
@given(data=st.data())
def test_mutated_valid_file(data: st.DataObject, minimal_file_factory: Factory) -> None:
    doc = data.draw(mutated_documents(minimal_file_factory))
    loaded = load_or_reject(encode(doc))
    if loaded is not None and isinstance(doc, dict):
        assert loaded.event_count == len(doc["events"])


@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_quarantined_events_can_be_redropped(
    data: st.DataObject, minimal_file_factory: Factory
) -> None:
    """The operator loop: quarantined events written out load again as a valid file."""
    doc = data.draw(mutated_documents(minimal_file_factory))
    loaded = load_or_reject(encode(doc))
    if loaded is None or not loaded.rejected:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = write_rejected_events(
            Path(tmp), NAME, loaded.rejected, file_hash="0" * 64, at=datetime.now(UTC)
        )
        again = load_file(read_limited(path, 10**7), path.name)
    check_invariants(again)
    assert again.source_code == loaded.source_code
    assert again.event_count == len(loaded.rejected)
    # Whatever was wrong with an event itself is still wrong (the checks are per event);
    # only duplicates may now pass, because their first occurrence may have been accepted.
    still_bad = {k for k, r in enumerate(loaded.rejected) if "duplicate id" not in r.reason}
    assert still_bad <= {r.index for r in again.rejected}
