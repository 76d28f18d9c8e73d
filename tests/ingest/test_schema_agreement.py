"""The compiled fast check and the explaining validator must agree on every input.

The loader trusts ``EVENT_FAST_CHECK`` for valid events and asks
``EVENT_VALIDATOR`` only to explain invalid ones; a disagreement would let an
invalid event through or quarantine a valid one with no reason.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import fastjsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from eventdedup.ingest.schema import EVENT_FAST_CHECK, EVENT_VALIDATOR
from eventdedup.testing import corpus_files


@functools.cache
def _corpus_events() -> list[dict[str, Any]]:
    return [e for p in corpus_files() for e in json.loads(p.read_text())["events"]]


def _fast(value: Any) -> bool:
    try:
        EVENT_FAST_CHECK(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _full(value: Any) -> bool:
    return EVENT_VALIDATOR.is_valid(value)


def test_agree_on_every_dev_corpus_event() -> None:
    events = _corpus_events()
    assert len(events) == 2000
    assert all(_fast(e) and _full(e) for e in events)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = st.sampled_from(
    [
        "id",
        "title",
        "source_type",
        "short_description",
        "description",
        "highlights",
        "categories",
        "event_dates",
        "location",
        "is_family_event",
        "admission_free",
        "confidence_score",
        "registration_contact",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=6) | json_values)
def test_agree_on_arbitrary_values(value: Any) -> None:
    assert _fast(value) == _full(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 1999), fields, json_values)
def test_agree_on_mutated_real_events(index: int, field: str, value: Any) -> None:
    event = dict(_corpus_events()[index])
    event[field] = value
    assert _fast(event) == _full(event)
