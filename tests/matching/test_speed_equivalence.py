"""Each fast path of the matching core gives exactly what its plain definition gives."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import random
import re
import unicodedata

import attrs
import pytest
from rapidfuzz.distance import OSA

from eventdedup.matching import EventRecord, blocking_keys, candidate_pairs, prepare_event
from eventdedup.matching.decision import round4
from eventdedup.matching.normalize import clear_caches, fold, strip_punct, tokens
from eventdedup.matching.record import is_place
from eventdedup.matching.signals import (
    blended_title_similarity,
    clock_delta,
    common_days,
    date_signal,
    time_factor,
    title_blend_for,
    title_signal,
)
from eventdedup.model import EventDate
from tests.matching.conftest import make_event

# --- the plain definitions: the specification the fast paths must meet -------

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "œ": "oe"})
_OCR_I = re.compile(r"(?<=[A-Za-zÄÖÜäöüß])I(?=[a-zäöüß])")
_BREAK = re.compile(r"(?<=[A-Za-zÄÖÜäöüß])-\s+(?!(?:und|oder|bis|sowie|u\.?)\b)(?=[a-zäöüßA-ZÄÖÜ])")
_PUNCT = re.compile(r"[\"'!?,.:;()\[\]{}„“”‚‘’«»*#§|/\\…–—_+&]")


def _fold_spec(text: str, ocr: bool) -> str:
    s = unicodedata.normalize("NFC", text)
    if ocr:
        s = _BREAK.sub("", _OCR_I.sub("l", s))
    s = s.casefold().translate(_UMLAUTS)
    if not s.isascii():
        s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    if ocr:
        s = s.replace("rn", "m")
    return re.sub(r"\s+", " ", s).strip()


def _strip_spec(text: str) -> str:
    s = _PUNCT.sub(" ", text)
    s = re.sub(r"(?<!\w)-|-(?!\w)", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def test_fold_and_strip_equal_their_specification():
    rnd = random.Random(7)
    alphabet = list("aAbIlrnm äÄöÖüÜßẞéÉçñ-–—\t\n\u00a0\u2009\u3000\x1c.,;:()„“\"'İıﬁ½²̈́")
    alphabet += [chr(rnd.randrange(0x20, 0x3000)) for _ in range(200)]
    texts = ["DRK-BIutspende", "Veranstal- tung", "Kultur- und Bürgerhaus", "Café „Stille Orte“"]
    texts += [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 25))) for _ in range(4000)
    ]
    for t in texts:
        for ocr in (True, False):
            assert fold(t, ocr_fixes=ocr) == _fold_spec(t, ocr), repr(t)
        assert strip_punct(t) == _strip_spec(t), repr(t)


def test_round4_is_round():
    rnd = random.Random(3)
    xs = [rnd.random() for _ in range(20000)] + [rnd.uniform(0, 1e6) for _ in range(2000)]
    xs += [k / 10000 + d for k in range(0, 10001, 7) for d in (0, 5e-5, -5e-5, 1e-12)]
    xs += [0.0, -0.0, 1.0, 0.00005, 0.99995, -1.23456, 2e6 + 0.12345]
    for x in xs + xs[:500]:  # repeats go through the memo
        assert round4(x) == round(x, 4) and math.copysign(1, round4(x)) == math.copysign(
            1, round(x, 4)
        ), x


def _random_events(n: int, seed: int):
    rnd = random.Random(seed)
    towns = [("Waldkirch", 48.09, 7.96), ("Sexau", 48.10, 7.91), ("Elzach", 48.17, 8.07)]
    words = ["Nachtumzug", "Kinderball", "Seniorennachmittag", "Blutspende", "Landschaftstag"]
    out = []
    for i in range(n):
        town, lat, lon = rnd.choice(towns)
        day = dt.date(2026, 2, 10) + dt.timedelta(days=rnd.randrange(4))
        dates = []
        for _ in range(rnd.choice((1, 1, 1, 2))):
            start = None if rnd.random() < 0.3 else dt.time(rnd.randrange(24), rnd.randrange(60))
            end = day + dt.timedelta(days=rnd.randrange(1, 5)) if rnd.random() < 0.15 else None
            dates.append(EventDate(day + dt.timedelta(days=rnd.randrange(2)), start, None, end))
        geo = rnd.random() < 0.7
        out.append(
            make_event(
                id=f"e{i:03d}",
                title=f"{rnd.choice(words)} {rnd.choice(words)}",
                dates=tuple(dates),
                city=town if rnd.random() < 0.8 else None,
                lat=lat + rnd.uniform(-0.03, 0.03) if geo else None,
                lon=lon + rnd.uniform(-0.03, 0.03) if geo else None,
                conf=rnd.choice((0.6, 0.9, 1.0)),
            )
        )
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_candidate_pairs_are_the_pairs_sharing_a_blocking_key(cfg, seed):
    recs = [prepare_event(e, cfg) for e in _random_events(120, seed)]
    keys = {r.id: set(blocking_keys(r, cfg)) for r in recs}

    def sharing(new, stored):
        ids = {r.id for r in new}
        pool = [r.id for r in new] + [r.id for r in stored if r.id not in ids]
        return sorted(
            (min(x, y), max(x, y))
            for x, y in itertools.combinations(pool, 2)
            if (x in ids or y in ids) and keys[x] & keys[y]
        )

    assert candidate_pairs(recs, [], cfg) == sharing(recs, [])
    new, stored = recs[::3], recs
    assert candidate_pairs(new, stored, cfg) == sharing(new, stored)


def test_derived_day_minutes_survive_json_and_are_not_stored(cfg, rec):
    r = rec(id="a", day="2026-02-13", end_date="2026-02-15", start="19:00")
    data = r.to_json()
    assert "day_minutes" not in data
    back = EventRecord.from_json(data)
    assert back == r and back.day_minutes == r.day_minutes == {
        d: (1140,) for d in ("2026-02-13", "2026-02-14", "2026-02-15")
    }


def test_tokens_split_as_the_regex_does():
    rnd = random.Random(11)
    alphabet = list(" -ab\t\n\u00a0\u2003\u3000\x1c\x1f-") + [
        chr(rnd.randrange(0x20, 0x3000)) for _ in range(100)
    ]
    texts = ["tanz-abend  im  saal", "-a--b- ", ""]
    texts += [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 20))) for _ in range(5000)
    ]
    for t in texts:
        assert tokens(t) == tuple(x for x in re.split(r"[\s\-]+", t) if x), repr(t)


def test_is_place_allows_exactly_one_edit():
    rnd = random.Random(5)
    letters = "aeinrstu"
    places = frozenset(
        "".join(rnd.choice(letters) for _ in range(rnd.randrange(3, 10))) for _ in range(6)
    )
    words = list(places)
    for p in places:  # one edit of each kind, and two
        words += [p[1:], p + "x", p[:2] + "x" + p[3:], p[1] + p[0] + p[2:], p[2:] + "xy"]
    words += [
        "".join(rnd.choice(letters) for _ in range(rnd.randrange(4, 10))) for _ in range(3000)
    ]
    for w in words:
        spec = w in places or (
            len(w) >= 6
            and any(abs(len(p) - len(w)) <= 1 and OSA.distance(p, w) <= 1 for p in places)
        )
        assert is_place(w, places) == spec, (w, sorted(places))


@pytest.mark.parametrize("seed", [3, 4])
def test_date_and_title_signals_equal_their_definitions(cfg, seed):
    """date_signal / common_days / title_signal (memoised, shortcuts) against the plain
    formulas of docs/domain.md §4.1 and §4.4, on listings with ranges and label prefixes."""
    events = _random_events(150, seed)
    rnd = random.Random(seed)
    labelled = [
        attrs.evolve(e, title=f"{rnd.choice(('Kino', 'Tipp', 'Vortrag'))}: {e.title}")
        if rnd.random() < 0.4
        else e
        for e in events
    ]
    clear_caches()
    recs = [prepare_event(e, cfg) for e in labelled]
    by_id = {r.id: r for r in recs}
    assert any(len(r.title_forms) > 1 for r in recs) and any(len(r.days) > 2 for r in recs)
    d = cfg.date
    for x, y in candidate_pairs(recs, [], cfg) * 2:  # the second round hits the memos
        a, b = by_id[x], by_id[y]
        common = sorted(set(a.days) & set(b.days))
        assert common_days(a, b) == common
        if not common:
            date = 0.0
        else:
            n = len(common)
            overlap = n / (len(a.days) + len(b.days) - n)
            if n in (len(a.days), len(b.days)):
                overlap = max(overlap, d.subset_score)
            if a.day_times and b.day_times:
                total = 0.0
                for day in common:
                    xs = [m for dd, m in a.day_times if dd == day]
                    ys = [m for dd, m in b.day_times if dd == day]
                    delta = min(clock_delta(p, q) for p in xs for q in ys) if xs and ys else None
                    total += 1.0 if delta is None else time_factor(delta, d)
                overlap *= total / n
            date = overlap
        assert date_signal(a, b, d) == date, (x, y)
        blend = title_blend_for(a, b, cfg)
        title = max(
            [0.0]
            + [blended_title_similarity(p, q, blend) for p in a.title_forms for q in b.title_forms]
        )
        assert title_signal(a, b, cfg) == title, (x, y)


def test_derived_latitude_survives_json_and_is_not_stored(cfg, rec):
    r = rec(id="a", lat=48.1, lon=7.9)
    data = r.to_json()
    assert "lat_radians" not in data and "lat_cos" not in data
    back = EventRecord.from_json(data)
    assert back.lat_radians == r.lat_radians == math.radians(48.1)
    assert back.lat_cos == r.lat_cos == math.cos(math.radians(48.1))


def test_common_days_of_runs_and_gaps_equal_the_intersection(cfg, rec):
    """common_days (one day against many, equal days, else a set of the shorter side)
    against the intersection: runs of days, gaps (several dates, a range cut at
    ``max_range_days``), runs across a month or year end."""
    rnd = random.Random(11)
    base = rec()
    start = dt.date(2024, 12, 20)

    def days() -> tuple[str, ...]:
        first = start + dt.timedelta(days=rnd.randrange(0, 25))
        picked = {first + dt.timedelta(days=k) for k in range(rnd.randrange(1, 20))}
        if rnd.random() < 0.3:  # a gap: another date, or a day left out
            picked.add(first + dt.timedelta(days=rnd.randrange(20, 40)))
        if rnd.random() < 0.2 and len(picked) > 2:
            picked.discard(sorted(picked)[1])
        return tuple(sorted(d.isoformat() for d in picked))

    samples = [attrs.evolve(base, days=days()) for _ in range(120)]
    assert any(len(r.days) > 2 for r in samples)
    for a, b in itertools.product(samples, repeat=2):
        assert common_days(a, b) == sorted(set(a.days) & set(b.days)), (a.days, b.days)


def test_pair_probability_is_the_calibration_of_pair_features():
    """review.pair_probability (features without the dict of signals) against the
    calibration applied to ``pair_features``, as training computes them."""
    from eventdedup.matching.decision import PairScore
    from eventdedup.matching.logistic import predict
    from eventdedup.matching.review import CALIBRATION, pair_features, pair_probability

    rnd = random.Random(5)
    values = [0.0, 0.5, 0.8123, 1.0, rnd.random()]
    for _ in range(3000):
        score = PairScore(
            "a",
            "b",
            rnd.choice(values),
            rnd.choice(values),
            rnd.choice(values),
            rnd.choice(values),
            rnd.random(),
            rnd.choice(("match", "ambiguous", "no_match")),
            rnd.choice(("vetoed: title 0.40 < 0.50", "ambiguous: combined 0.70", "")),
            probability=rnd.choice((-1.0, 0.0, 0.0005, rnd.random(), 0.9999, 1.0)),
        )
        sizes = (rnd.randint(1, 3), rnd.randint(1, 3))
        contested = rnd.random() < 0.3
        features = pair_features(score, sizes, contested)
        expected = round(predict(CALIBRATION, features), 4)
        assert pair_probability(score, CALIBRATION, sizes, contested) == expected
