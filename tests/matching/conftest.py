from __future__ import annotations

import datetime as dt

import pytest

from eventdedup.matching import MatchingConfig, load_matching_config, prepare_event
from eventdedup.model import EventDate, Geo, Location, SourceEvent


@pytest.fixture(scope="session")
def cfg() -> MatchingConfig:
    return load_matching_config(None)


def make_event(
    id: str = "e1",
    title: str = "Nachtumzug",
    *,
    source_type: str = "artikel",
    source_code: str = "bwb",
    day: str = "2026-02-14",
    start: str | None = "19:00",
    end_date: str | None = None,
    dates: tuple[EventDate, ...] | None = None,
    city: str | None = "Waldkirch",
    venue: str | None = None,
    street: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    conf: float | None = 1.0,
    short: str | None = None,
    desc: str | None = None,
    categories: tuple[str, ...] = (),
    highlights: tuple[str, ...] = (),
) -> SourceEvent:
    if dates is None:
        dates = (
            EventDate(
                dt.date.fromisoformat(day),
                dt.time.fromisoformat(start) if start else None,
                None,
                dt.date.fromisoformat(end_date) if end_date else None,
            ),
        )
    geo = Geo(lat, lon, conf) if lat is not None and lon is not None else None
    return SourceEvent(
        id=id,
        source_code=source_code,
        source_type=source_type,
        title=title,
        short_description=short,
        description=desc,
        highlights=highlights,
        dates=dates,
        location=Location(name=venue, city=city, printed_city=city, street=street, geo=geo),
        categories=categories,
    )


@pytest.fixture
def rec(cfg):
    def build(**kw):
        return prepare_event(make_event(**kw), cfg)

    return build
