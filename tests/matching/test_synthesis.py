from __future__ import annotations

import datetime as dt

import attrs

from eventdedup.matching import Canonical, PairScore, synthesize
from eventdedup.matching.synthesis import merge_schedule
from eventdedup.model import EventDate


def test_schedule_dedup_within_tolerance():
    d = dt.date(2026, 2, 14)
    out = merge_schedule(
        [
            EventDate(d, dt.time(19, 11)),
            EventDate(d, dt.time(19, 30)),
            EventDate(d, dt.time(19, 11)),
            EventDate(d, None),
            EventDate(d, dt.time(15, 11)),
        ],
        30,
    )
    assert out == (EventDate(d, dt.time(15, 11)), EventDate(d, dt.time(19, 11)))


def test_tie_breaks_are_deterministic(cfg, rec):
    a = rec(id="b2", title="Nachtumzug Sexau", short="Umzug.", city="Sexau")
    b = rec(id="a1", title="Nachtumzug Gutes", short="Zug..", city="Gutach")
    c1 = synthesize([a, b], [], None, cfg)
    c2 = synthesize([b, a], [], None, cfg)
    assert c1 == c2
    assert (
        c1.title == "Nachtumzug Gutes" and c1.provenance["title"] == "a1"
    )  # equal length -> lower id
    assert c1.location_city == "Gutach"  # tie in frequency -> first by id


def test_prefers_non_caps_longest_title(cfg, rec):
    a = rec(id="a", title="NACHTUMZUG DER NARRENZUNFT SEXAU")
    b = rec(id="b", title="Nachtumzug der Narrenzunft")
    assert synthesize([a, b], [], None, cfg).title == "Nachtumzug der Narrenzunft"


def test_confidence_and_review(cfg, rec):
    a, b = rec(id="a"), rec(id="b")
    e = PairScore("a", "b", 1, 1, 1, 1, 0.9, "match", "m")
    c = synthesize([a, b], [e], None, cfg)
    assert c.match_confidence == 0.9 and not c.needs_review and c.source_count == 2
    assert synthesize([a], [], None, cfg).match_confidence is None


def test_no_downgrade(cfg, rec):
    a = rec(
        id="a",
        title="Nachtumzug",
        desc="Ein langer Text über den Umzug durch die Altstadt.",
        lat=48.1,
        lon=7.9,
        conf=1.0,
    )
    prev = synthesize([a], [], None, cfg)
    b = rec(id="b", title="Nachtumzug", desc="Kurz.", lat=48.2, lon=7.8, conf=0.5)
    now = synthesize([a, b], [], prev, cfg)
    assert now.description == prev.description and now.provenance["description"] == "a"
    assert (now.geo_latitude, now.geo_confidence) == (48.1, 1.0)
    assert now.version == prev.version + 1  # source_count etc. changed
    assert "source_count" in now.changed_fields(prev) and "description" not in now.changed_fields(
        prev
    )
    # better information does replace
    c = rec(
        id="c",
        title="Nachtumzug",
        desc="Ein noch viel längerer Text über den Umzug durch die Altstadt.",
    )
    assert synthesize([a, c], [], prev, cfg).description.startswith("Ein noch")


def test_json_round_trip(cfg, rec):
    c = synthesize([rec(id="a", end_date="2026-02-16"), rec(id="b")], [], None, cfg)
    assert Canonical.from_json(c.to_json()) == c
    assert attrs.evolve(c, title="x").changed_fields(c) == ["title"]
