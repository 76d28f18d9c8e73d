"""Value objects for source events as they arrive in the drop folder.

These are what the loader produces from a validated file and what the matching
core consumes. They are immutable so that the pure core can never mutate what
the shell will store; ``raw`` keeps the event exactly as it arrived so nothing
an upstream extractor sent is ever lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from eventdedup.pickling import fast_pickle

SOURCE_TYPES = ("artikel", "terminliste", "anzeige")


@fast_pickle()
@attrs.frozen
class Geo:
    latitude: float
    longitude: float
    confidence: float | None = None
    country: str | None = None


@fast_pickle()
@attrs.frozen
class Location:
    """Where an event happens.

    ``city`` is the effective city: the address sanitiser's city when it gave
    one, else the city as printed (docs/domain.md §1.5). ``printed_city`` keeps the
    printed form for display and for alias lookup.
    """

    name: str | None = None
    city: str | None = None
    printed_city: str | None = None
    district: str | None = None
    street: str | None = None
    street_no: str | None = None
    zipcode: str | None = None
    geo: Geo | None = None


@fast_pickle()
@attrs.frozen
class EventDate:
    date: dt.date
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    end_date: dt.date | None = None


@fast_pickle()
@attrs.frozen
class SourceEvent:
    """One listing of one source, validated but not yet normalized."""

    id: str
    source_code: str
    source_type: str
    title: str
    short_description: str | None = None
    description: str | None = None
    highlights: tuple[str, ...] = ()
    dates: tuple[EventDate, ...] = ()
    location: Location | None = None
    categories: tuple[str, ...] = ()
    is_family_event: bool | None = None
    is_child_focused: bool | None = None
    admission_free: bool | None = None
    registration_required: bool | None = None
    registration_contact: str | None = None
    confidence_score: float | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    def in_full(self) -> SourceEvent:
        """This event (see :class:`Listing`)."""
        return self


class Listing(Protocol):
    """An accepted event as storing and matching a file read it.

    A :class:`SourceEvent`, or what the parse worker hands over of one
    (``pipeline.SentEvent``: the id and source, not the fields and ``raw``); either
    gives the whole event on demand, for what is done with it only now and then
    (preparing it again after a configuration change, quarantining it).
    """

    @property
    def id(self) -> str: ...

    @property
    def source_code(self) -> str: ...

    def in_full(self) -> SourceEvent:
        """The whole event."""
        ...
