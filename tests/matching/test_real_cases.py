"""The real-case kinds of docs/domain.md §13/§17 and issue #15, on generated names.

One test per kind; each runs the engine as the daemon does (prepare, blocking,
scoring, clustering) over a few listings and asserts the outcome. Names come
from a generated vocabulary (``eventdedup.synth.vocabulary``, test seed), never
from the dev sample. The kinds that are not handled are listed in
docs/matching.md and have no test here (a test asserting a wrong outcome would
only pin the bug).
"""

from __future__ import annotations

import datetime as dt
import itertools

import attrs

from eventdedup.matching import candidate_pairs, load_matching_config, prepare_event, score_pair
from eventdedup.matching.batch import cluster_records
from eventdedup.model import EventDate, SourceEvent
from eventdedup.synth.vocabulary import generated_vocabulary
from tests.matching.conftest import make_event

CFG = load_matching_config(None)
V = generated_vocabulary(31337)
TOWN = V.town_heads[0] + "ingen"
NEIGHBOUR = V.town_heads[1] + "bach"
FAR_TOWN = V.town_heads[2] + "weiler"
#: town centres: NEIGHBOUR about 3 km from TOWN, FAR_TOWN about 25 km
AT = {TOWN: (47.950, 7.900), NEIGHBOUR: (47.970, 7.930), FAR_TOWN: (48.160, 7.820)}
PERSON = f"{V.first[0]} {V.last[0]}"
OTHER_PERSON = f"{V.first[1]} {V.last[1]}"


def ev(
    id: str,
    title: str,
    town: str | None = TOWN,
    lat: float | None = None,
    lon: float | None = None,
    conf: float = 1.0,
    **kw: object,
) -> SourceEvent:
    """A listing in ``town`` geocoded to its venue (near the centre) unless told otherwise."""
    if town is not None and lat is None:
        lat, lon = AT[town][0] + 0.001, AT[town][1] + 0.001
    return make_event(id, title, city=town, lat=lat, lon=lon, conf=conf, **kw)  # type: ignore[arg-type]


def clusters(*events: SourceEvent) -> list[frozenset[str]]:
    """The engine's clusters of ``events`` (prepare, blocking, scoring, clustering)."""
    records = {e.id: prepare_event(e, CFG) for e in events}
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], CFG)
    decisions = [score_pair(records[a], records[b], CFG) for a, b in pairs]
    return [frozenset(c) for c in cluster_records(records, decisions, CFG).clusters]


def together(cl: list[frozenset[str]], *ids: str) -> bool:
    return any(set(ids) <= c for c in cl)


def apart(cl: list[frozenset[str]], *ids: str) -> bool:
    return not any(len(set(ids) & c) > 1 for c in cl)


# --- §13: hard cases ----------------------------------------------------------------------------


def test_01_different_films_at_one_cinema_same_hour_are_different() -> None:
    text = "Kinderfilm im Kino im Kornhaus, Eintritt 5 Euro."
    f1, f2, f3 = V.films[:3]
    cl = clusters(
        ev("a", f"Kinotipp: {f1}", venue="Kino im Kornhaus", start="15:00", short=text),
        ev("b", f"Kinotipp: {f2}", venue="Kino im Kornhaus", start="15:00", short=text),
        ev("c", f"{f3} {TOWN}", venue="Kino im Kornhaus", start="15:30", short=text),
        ev("d", f1.upper(), venue="Kornhaus-Kino", start="15:00", short=text, source_code="kst"),
    )
    assert apart(cl, "a", "b", "c")
    assert together(cl, "a", "d")


def test_02_one_film_in_capitals_from_another_source_is_one_event() -> None:
    film = V.films[4]
    cl = clusters(
        ev("a", film, venue="Kino im Kornhaus", start="20:00"),
        ev("b", f"KINO: {film.upper()}", venue="Kornhaus-Kino", start="20:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_03_one_talk_with_identical_low_confidence_points_and_short_text_only() -> None:
    topic = V.topics[0]
    short = f"{PERSON} spricht über {topic.lower()}."
    point = (47.951, 7.902, 0.6)  # identical, low-confidence coordinates
    cl = clusters(
        ev("a", f"Vortrag: {topic}", TOWN, *point, short=short, start="19:30"),
        ev("b", topic, TOWN, *point, short=short, start="19:30", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_04_balls_of_two_clubs_in_one_hall_are_different() -> None:
    c1, c2 = V.club_names[:2]
    hall = {"venue": "Festhalle", "start": "19:11"}
    cl = clusters(
        ev("a", f"Zunftball der Narrenzunft {c1}", **hall),
        ev("b", f"Zunftball der Narrengilde {c2}", **hall),
        ev("c", f"ZUNFTBALL DER NARRENZUNFT {c1.upper()}", source_code="kst", **hall),
    )
    assert apart(cl, "a", "b")
    assert together(cl, "a", "c")


def test_05_open_days_of_two_kindergartens_in_one_town_are_different() -> None:
    k1, k2 = V.club_names[2:4]
    cl = clusters(
        ev("a", f"Tag der offenen Tür im Kindergarten {k1}", start="10:00"),
        ev("b", f"Tag der offenen Tür im Kindergarten {k2}", start="10:00"),
    )
    assert apart(cl, "a", "b")


def test_06_two_talks_in_one_venue_the_same_evening_are_different() -> None:
    series = f"Vortragsreihe der Volkshochschule {V.club_names[4]}: Natur und Geschichte."
    place = {"venue": "Bürgerhaus", "desc": series}
    cl = clusters(
        ev("a", f"{PERSON} zu Gast im Bürgerhaus", start="19:00", **place),
        ev("b", f"{OTHER_PERSON} zu Gast im Bürgerhaus", start="19:30", **place),
        ev("c", f"Diavortrag: {V.topics[1]}", start="19:00", **place),
        ev("d", f"Bildervortrag: {V.topics[2]}", start="19:30", **place),
    )
    assert apart(cl, "a", "b", "c", "d")


def test_07_one_traditional_event_name_in_neighbouring_towns_is_two_events() -> None:
    cl = clusters(
        ev("a", "Fasnetverbrennung", TOWN, start="19:00"),
        ev("b", "Fasnetverbrennung", NEIGHBOUR, start="19:00"),
        ev("c", "Fasnetverbrennung", FAR_TOWN, start="19:00"),
    )
    assert apart(cl, "a", "b", "c")


def test_08_one_event_under_its_district_and_under_its_town_is_one_event() -> None:
    district = V.town_heads[3] + "hausen"
    title = f"Frühjahrskonzert {V.ensembles[0].format(town=TOWN)}"
    a = ev("a", title, venue="Gemeindehalle", start="19:30")
    assert a.location is not None
    loc = attrs.evolve(a.location, printed_city=district, district=district)
    b = attrs.evolve(ev("b", title, start="19:30", source_code="kst"), id="b", location=loc)
    assert together(clusters(a, b), "a", "b")


def test_09_one_competition_listed_under_many_towns_is_one_event() -> None:
    title = f"Regionalentscheid Volleyball {V.club_names[5]}"
    towns = [V.town_heads[10 + i] + "heim" for i in range(6)]
    listings = []
    for i, town in enumerate(towns):
        lat, lon = 47.90 + 0.012 * i, 7.90 + 0.015 * (i % 3)
        listings.append(
            make_event(f"e{i}", title, city=town, lat=lat, lon=lon, conf=0.9, start="10:00")
        )
    assert together(clusters(*listings), *(e.id for e in listings))


def test_10_a_headline_against_a_short_calendar_name_is_one_event() -> None:
    ens = V.ensembles[1].format(town=TOWN)
    cl = clusters(
        ev("a", f"Konzert mit dem {ens}", venue="Stadthalle", start="19:00"),
        ev(
            "b",
            f"{ens} spielt in {TOWN}",
            venue="Stadthalle",
            start="19:00",
            source_type="artikel",
            source_code="kst",
        ),
    )
    assert together(cl, "a", "b")


def test_11_dialect_spellings_of_carnival_words_are_one_event() -> None:
    guild = V.club_names[6]
    cl = clusters(
        ev("a", f"Fasnetsumzug der Narrenzunft {guild}", start="14:11"),
        ev("b", f"Fastnachtsumzug der Narrenzunft {guild}", start="14:11", source_code="kst"),
        ev("c", f"Faschingsumzug der Narrenzunft {guild}", start="14:11", source_code="rhl"),
    )
    assert together(cl, "a", "b", "c")


def test_12_ocr_damage_is_one_event() -> None:
    guild = V.club_names[7]
    cl = clusters(
        ev("a", f"Kinderumzug der Narrenzunft {guild}", start="14:00"),
        ev("b", f"Kinder-urnzug der Narrenzunft {guild}", start="14:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_13_a_weekly_market_on_two_days_is_two_events() -> None:
    place = {"venue": "Marktplatz", "start": "08:00"}
    cl = clusters(
        ev("a", f"Wochenmarkt {TOWN}", day="2026-03-03", **place),
        ev("b", f"Wochenmarkt {TOWN}", day="2026-03-10", **place),
        ev("c", f"Wochenmarkt {TOWN}", day="2026-03-10", source_code="kst", **place),
    )
    assert apart(cl, "a", "b")
    assert together(cl, "b", "c")


def test_13b_two_runs_of_one_film_sharing_a_day_are_two_events() -> None:
    film = V.films[5]

    def run(first: int, n: int) -> tuple[EventDate, ...]:
        start = dt.date(2026, 3, first)
        return tuple(
            EventDate(start + dt.timedelta(days=i), dt.time(20, 0), None, None) for i in range(n)
        )

    cl = clusters(
        ev("a", film, venue="Kino im Kornhaus", dates=run(5, 3)),
        ev("b", f"Kino: {film}", venue="Kino im Kornhaus", dates=run(7, 4), source_code="kst"),
    )
    assert apart(cl, "a", "b")


def test_14_a_point_far_outside_the_region_does_not_split_one_event() -> None:
    title = f"Jahreshauptversammlung Musikverein {V.club_names[8]}"
    cl = clusters(
        ev("a", title, venue="Gasthaus Adler", start="20:00"),
        ev("b", title, venue="Gasthaus Adler", start="20:00", lat=49.74, lon=8.33, conf=0.84),
    )
    assert together(cl, "a", "b")


def test_15_an_online_event_without_a_town_is_matched_on_its_own() -> None:
    topic = V.topics[3]
    cl = clusters(
        ev("a", f"Online-Vortrag: {topic}", None, venue="Online", start="19:00"),
        ev("b", f"{topic} (online)", None, venue="Zoom", start="19:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


# --- §17 and issue #15 --------------------------------------------------------------------------


def test_16_a_range_of_days_meets_a_listing_of_one_of_its_days() -> None:
    title = f"Kastanienfest {TOWN}"
    cl = clusters(
        ev("a", title, day="2026-09-12", end_date="2026-09-14", start="14:00"),
        ev("b", title, day="2026-09-13", start="14:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_17_a_town_by_its_short_and_its_full_name_is_one_town() -> None:
    short = V.town_heads[4] + "tal"
    full = f"{short} im Wald"
    title = f"Laternenumzug des Kindergartens {V.club_names[9]}"
    point = {"lat": 47.99, "lon": 7.95, "conf": 0.7}
    cl = clusters(
        make_event("a", title, city=short, start="17:00", **point),  # type: ignore[arg-type]
        make_event("b", title, city=full, start="17:00", source_code="kst", **point),  # type: ignore[arg-type]
    )
    assert together(cl, "a", "b")


def test_18_the_closest_of_several_start_times_counts() -> None:
    day = dt.date(2026, 4, 18)
    both = (EventDate(day, dt.time(14, 0)), EventDate(day, dt.time(19, 0)))
    title = f"Theaterabend: {V.programmes[0]}"
    cl = clusters(
        ev("a", title, venue="Bürgerhaus", dates=both),
        ev("b", title, venue="Bürgerhaus", day="2026-04-18", start="19:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_19_a_label_prefix_on_one_side_only_is_one_event() -> None:
    topic = V.topics[4]
    cl = clusters(
        ev("a", f"Vortrag: {topic}", venue="Rathaus", start="19:30"),
        ev("b", topic, venue="Rathaussaal", start="19:30", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_20_one_event_under_the_neighbouring_town_is_one_event() -> None:
    title = f"Frühlingsfest des Musikvereins {V.club_names[10]}"
    lat, lon = AT[NEIGHBOUR]
    cl = clusters(
        ev("a", title, TOWN, venue="Festhalle", start="14:00"),
        # the publication's town, geocoded to its centre
        ev("b", title, NEIGHBOUR, lat=lat, lon=lon, conf=0.8, start="14:00", source_code="kst"),
    )
    assert together(cl, "a", "b")


def test_21_a_title_with_an_added_programme_item_the_same_day_is_one_event() -> None:
    cl = clusters(
        ev("a", "Politischer Aschermittwoch", venue="Festhalle", start="19:00"),
        ev(
            "b",
            "Politischer Aschermittwoch mit Heringsessen",
            venue="Festhalle",
            start="19:00",
            source_code="kst",
        ),
    )
    assert together(cl, "a", "b")


def test_every_listing_is_in_exactly_one_cluster() -> None:
    events = [ev(f"e{i}", V.films[i % 3], start="20:00") for i in range(6)]
    cl = clusters(*events)
    ids = [i for c in cl for i in c]
    assert sorted(ids) == sorted(e.id for e in events)
    assert all(a.isdisjoint(b) for a, b in itertools.combinations(cl, 2))
