from __future__ import annotations

import json

from eventdedup.matching import EventRecord, blocking_keys, candidate_pairs


def test_record_json_round_trip(rec):
    r = rec(
        id="a",
        title="Fasnetsumzug Riegel",
        end_date="2026-02-16",
        venue="Ortsmitte",
        lat=48.15,
        lon=7.75,
        short="Umzug",
    )
    assert EventRecord.from_json(json.loads(json.dumps(r.to_json()))) == r


def test_keys_cover_city_geo_ranges_and_words(cfg, rec):
    r = rec(
        id="a",
        title="Landschaftspflegetag",
        city="Sexau",
        lat=48.1,
        lon=7.9,
        conf=0.9,
        day="2026-02-13",
        end_date="2026-02-15",
    )
    keys = blocking_keys(r, cfg)
    # 19:00 lies in 2-hour slot 9: keys for slots 9 and 10
    assert "dc|2026-02-14|sexau|9" in keys and "dc|2026-02-14|sexau|10" in keys
    assert "dg|2026-02-14|48.10|7.89|9" in keys  # grid 0: round(lat/0.02)*0.02, lon /0.03
    assert "dt|2026-02-14|landschaftspflegetag|9" in keys
    assert all(k.split("|")[1] in {"2026-02-13", "2026-02-14", "2026-02-15"} for k in keys)
    assert not any(k.endswith("|8") for k in keys)


def test_time_slots_split_blocks_but_keep_jitter_and_missing_times(cfg, rec):
    a = rec(id="a", city="Sexau", start="15:11")
    b = rec(id="b", city="Sexau", start="16:30")  # 79 min: may be the same event
    c = rec(id="c", city="Sexau", start="19:11")  # 4 h later: a different parade
    d = rec(id="d", city="Sexau", start=None)  # no time: meets everyone
    e = rec(id="e", city="Sexau", start="23:50")
    f = rec(id="f", city="Sexau", start="00:20", day="2026-02-14")  # wraps midnight
    pairs = candidate_pairs([a, b, c, d, e, f], [], cfg)
    assert ("a", "b") in pairs and ("a", "c") not in pairs
    assert {("a", "d"), ("b", "d"), ("c", "d")} <= set(pairs)
    assert ("e", "f") in pairs


def test_prose_end_date_extends_days(cfg):
    import attrs

    from eventdedup.matching import prepare_event
    from tests.matching.conftest import make_event

    cfg = attrs.evolve(cfg, date=attrs.evolve(cfg.date, prose_end_dates=True))

    def rec(**kw):
        return prepare_event(make_event(**kw), cfg)

    a = rec(
        id="a",
        day="2026-02-17",
        start=None,
        short="Die Ausstellung „Stille Orte“ ist bis zum 8. März zu sehen.",
    )
    assert a.days[0] == "2026-02-17" and a.days[-1] == "2026-03-08"
    b = rec(id="b", day="2026-03-01", start=None, city="Waldkirch")
    assert candidate_pairs([a, b], [], cfg) == [("a", "b")]
    # a deadline is not a run: "Anmeldung bis zum 8. März"
    c = rec(id="c", day="2026-02-17", short="Anmeldung bis zum 8. März beim Verein.")
    assert c.days == ("2026-02-17",)


def test_untrusted_geo_has_no_cell_key(cfg, rec):
    r = rec(id="a", city=None, lat=48.1, lon=7.9, conf=0.6, title="Blutspende")
    assert not any(k.startswith("dg|") for k in blocking_keys(r, cfg))
    assert any(k.startswith("dt|") for k in blocking_keys(r, cfg))


def test_neighbouring_cells_meet(cfg, rec):
    # 200 m apart across the original grid-0 cell border (lat 48.105 = 0.09 * 1168.33...)
    a = rec(id="a", city=None, title="x", lat=48.1049, lon=7.9)
    b = rec(id="b", city=None, title="y", lat=48.1068, lon=7.9)
    assert candidate_pairs([a, b], [], cfg) == [("a", "b")]


def test_multiday_range_meets_single_day(cfg, rec):
    a = rec(id="a", day="2026-02-13", end_date="2026-02-15", city="Elzach")
    b = rec(id="b", day="2026-02-14", city="Elzach")
    assert candidate_pairs([b], [a], cfg) == [("a", "b")]


def test_candidate_pairs_sorted_unique_same_source(cfg, rec):
    rs = [rec(id=i, city="Sexau") for i in ("c", "a", "b")]
    assert candidate_pairs(rs[:2], rs[2:], cfg) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert candidate_pairs(rs[:1], rs[1:], cfg) == [("a", "c"), ("b", "c")]
