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
    assert "dc|2026-02-14|sexau" in keys
    assert "dg|2026-02-14|48.06|7.93" in keys  # the original's cell (round(lat/0.09)*0.09)
    assert "dt|2026-02-14|landschaftspflegetag" in keys
    assert all(k.split("|")[1] in {"2026-02-13", "2026-02-14", "2026-02-15"} for k in keys)


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
