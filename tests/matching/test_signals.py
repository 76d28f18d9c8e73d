from __future__ import annotations

import attrs
import pytest

from eventdedup.matching.config import TitleBlend
from eventdedup.matching.decision import combine, threshold_decision
from eventdedup.matching.signals import (
    blended_title_similarity,
    clock_delta,
    date_signal,
    description_signal,
    geo_score_from,
    time_factor,
)

DEFAULT = TitleBlend(0.7, 0.3, 0.40, 0.80)
CROSS = TitleBlend(0.4, 0.6, 0.25, 0.95)


@pytest.mark.parametrize(
    ("delta", "factor"), [(0, 1.0), (30, 1.0), (31, 0.1), (90, 0.1), (91, 0.0), (121, 0.0)]
)
def test_time_tiers(cfg, delta, factor):
    assert time_factor(delta, cfg.date) == factor


def test_midnight_wrap():
    assert clock_delta(23 * 60 + 50, 10) == 20


def test_date_signal_tiers_and_jaccard(cfg, rec):
    a = rec(id="a", start="19:00")
    assert date_signal(a, rec(id="b", start="19:30"), cfg.date) == 1.0
    assert date_signal(a, rec(id="b", start="19:31"), cfg.date) == pytest.approx(0.1)
    assert date_signal(a, rec(id="b", start="20:31"), cfg.date) == 0.0
    assert date_signal(rec(id="c", start="19:11"), rec(id="d", start="19:30"), cfg.date) == 1.0
    assert date_signal(a, rec(id="b", start=None), cfg.date) == 1.0  # missing time: no evidence
    assert date_signal(a, rec(id="b", day="2026-02-15"), cfg.date) == 0.0


def test_date_subset_and_ranges(cfg, rec):
    festival = rec(id="f", day="2026-02-13", end_date="2026-02-15", start=None)
    single = rec(id="s", day="2026-02-14", start=None)
    assert date_signal(festival, single, cfg.date) == 0.9  # docs/domain.md §17 item 3
    parity = attrs.evolve(cfg.date, subset_score=0.0)
    assert date_signal(festival, single, parity) == pytest.approx(1 / 3)


def test_geo_signal_section_4_2(cfg):
    g = cfg.geo
    assert geo_score_from(None, None, None, 48.0, 7.9, 1.0, "", "", g) == 0.5
    # identical coordinates override the confidence gate
    assert geo_score_from(48.1, 7.9, 0.74, 48.1, 7.9, 0.74, "", "", g) == 1.0
    # 1 m apart with low confidence: neutral
    assert geo_score_from(48.1, 7.9, 0.74, 48.100009, 7.9, 0.74, "", "", g) == 0.5
    # ~5 km -> ~0.5
    assert geo_score_from(48.1, 7.9, 1.0, 48.145, 7.9, 1.0, "", "", g) == pytest.approx(
        0.5, abs=0.01
    )
    # venue check below 1 km
    s = geo_score_from(48.1, 7.9, 1.0, 48.1045, 7.9, 1.0, "stadttheater", "konzerthaus", g)
    assert s == pytest.approx(0.475, abs=0.01)
    assert geo_score_from(48.1, 7.9, 1.0, 48.1, 7.9, 1.0, "scala haslach", "scala kino", g) == 1.0
    # outlier outside the region box: no evidence
    assert geo_score_from(49.74, 8.33, 0.85, 48.1, 7.9, 1.0, "", "", g) == 0.5


@pytest.mark.parametrize(
    ("a", "b", "blend", "expected"),
    [
        (
            "G.O.A.T. - Bock auf große Sprünge".casefold(),
            "G.O.A.T. - BOCK AUF GROSSE SPRÜNGE".casefold(),
            DEFAULT,
            1.0,
        ),
        ("kinderball waldkirch", "kinderball krakeelia waldkirch", DEFAULT, 0.86),
        ("kinderball waldkirch", "kinderball krakeelia waldkirch", CROSS, 0.92),
        ("kinderball waldkirch", "kinderball krakeelia", DEFAULT, 0.70),
        ("landschaftspflegetag", "landschaftspflegetag sexau", CROSS, 0.948),
        (
            "preismaskenball",
            "preismaskenball mit hemdglunker und musikverein in der herrenberghalle",
            DEFAULT,
            0.353,
        ),
    ],
)
def test_title_blending_windows(a, b, blend, expected):
    assert blended_title_similarity(a, b, blend) == pytest.approx(expected, abs=0.01)


def test_description_case_insensitive_and_neutral(cfg, rec):
    a = rec(id="a", short="Konzert im Park")
    assert description_signal(a, rec(id="b", short="KONZERT IM PARK"), cfg) == 1.0
    assert description_signal(rec(id="a"), rec(id="b"), cfg) == 0.5
    assert description_signal(a, rec(id="b"), cfg) == 0.4


@pytest.mark.parametrize(
    ("signals", "combined", "decision"),
    [
        ((1, 0.5, 1, 0.5), 0.800, "match"),
        ((1, 0.5, 1, 0.4), 0.785, "match"),
        ((1, 0.5, 0.9, 0.4), 0.755, "match"),
        ((1, 0.5, 0.8, 0.4), 0.725, "ambiguous"),
        ((1, 1, 0.5, 1), 0.850, "match"),
        ((1, 1, 0.44, 1), 0.832, "ambiguous"),  # title veto
        ((0, 0.5, 0.3, 0.4), 0.275, "no_match"),
    ],
)
def test_weights_thresholds_veto(cfg, signals, combined, decision):
    c = combine(*signals, cfg.scoring)
    assert c == pytest.approx(combined, abs=0.001)
    got, reason = threshold_decision(c, signals[2], cfg)
    assert got == decision
    if signals[2] == 0.44:
        assert reason == "vetoed: title 0.44 < 0.45"
