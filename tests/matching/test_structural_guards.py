"""Structural guards and model revisions on generated names (no dev-corpus strings).

Names come from a generated vocabulary (``eventdedup.synth.vocabulary``), so
the tests hold for any town, person or title, not for words the dev sample has.
"""

from __future__ import annotations

import random

import attrs
import pytest

from eventdedup.matching import load_matching_config, prepare_event, score_pair
from eventdedup.matching.decision import MATCH, NO_MATCH, promotable, same_name
from eventdedup.matching.guards import (
    address_only,
    distinguishing_tokens,
    label_name_conflict,
    organiser_conflict,
    party_conflict,
    person_conflict,
    same_label_kind,
    venue_conflict,
)
from eventdedup.matching.pairmodel import shipped_model
from eventdedup.synth.vocabulary import generated_vocabulary
from tests.matching.conftest import make_event

CFG = load_matching_config(None)
RULES = attrs.evolve(CFG, model=attrs.evolve(CFG.model, enabled=False))
VOCAB = generated_vocabulary(4242)
RNG = random.Random(4242)
TOWNS = [h + "ingen" for h in VOCAB.town_heads[:6]]


def _rec(id: str, title: str, **kw: object):  # type: ignore[no-untyped-def]
    return prepare_event(make_event(id, title, **kw), CFG)  # type: ignore[arg-type]


@pytest.mark.parametrize("town", TOWNS[:3])
@pytest.mark.parametrize(
    ("left", "right"),
    [("SPD", "FDP"), ("Grüne", "CDU"), ("Die Linke", "Freie Wähler"), ("Volt", "ÖDP")],
)
def test_different_parties_info_stands_are_different_events(
    town: str, left: str, right: str
) -> None:
    place = {"city": town, "venue": "Marktplatz", "lat": 47.9, "lon": 7.9}
    a = _rec("a", f"Infostand der {left}", start="09:00", **place)
    b = _rec("b", f"{right}-Infostand {town}", start="09:30", **place)
    reason = party_conflict(a, b, CFG)
    assert reason is not None and reason.startswith("different parties")
    s = score_pair(a, b, CFG)
    assert s.decision == NO_MATCH and s.reason.startswith("different parties")


@pytest.mark.parametrize("party", ["SPD", "Die Linke", "Grüne", "Freie Wähler"])
def test_one_partys_stand_in_two_wordings_is_not_split(party: str) -> None:
    town = TOWNS[3]
    a = _rec("a", f"Infostand der {party}", city=town, start="10:00")
    b = _rec("b", f"{party} informiert in {town}", city=town, start="10:00")
    assert party_conflict(a, b, CFG) is None
    linke = _rec("c", "Linke am Markt", city=town)
    if party == "Die Linke":
        assert party_conflict(a, linke, CFG) is None


def test_titles_without_a_party_are_left_to_the_other_guards() -> None:
    film = VOCAB.films[0]
    a = _rec("a", f"Kinotipp: {film}", city=TOWNS[0])
    b = _rec("b", f"SPD zeigt {film}", city=TOWNS[0])
    assert party_conflict(a, b, CFG) is None


@pytest.mark.parametrize("n", range(4))
def test_one_competition_under_two_towns_is_one_event_for_the_model(n: int) -> None:
    sport = RNG.choice(("Volleyball", "Handball", "Boule", "Schach"))
    title = f"Regionalentscheid {sport} {VOCAB.club_names[n]}"
    # neighbouring towns ~3 km apart, both geocoded to their own centre
    a = _rec("a", title, city=TOWNS[n], lat=47.90, lon=7.90, start="10:00")
    b = _rec("b", title, city=TOWNS[n + 1], lat=47.92, lon=7.93, start="10:00")
    ruled = score_pair(a, b, RULES)
    assert ruled.decision == NO_MATCH and ruled.reason.startswith(("different towns", "far apart"))
    revised = score_pair(a, b, CFG)
    assert revised.decision == MATCH and "overruled" in revised.reason
    assert revised.probability >= shipped_model().overrule_at


@pytest.mark.parametrize("n", range(3))
def test_a_generic_one_word_title_in_neighbouring_towns_stays_apart(n: int) -> None:
    title = VOCAB.club_names[n] + "nachmittag"
    a = _rec("a", title, city=TOWNS[n], lat=47.90, lon=7.90, start="14:30")
    b = _rec("b", title, city=TOWNS[n + 1], lat=47.92, lon=7.93, start="14:30")
    s = score_pair(a, b, CFG)
    assert s.decision == NO_MATCH and s.reason.startswith("different towns")


@pytest.mark.parametrize("n", range(3))
def test_different_speakers_at_one_venue_stay_apart(n: int) -> None:
    first, last = VOCAB.first, VOCAB.last
    venue = {"city": TOWNS[n], "venue": "Bürgerhaus", "lat": 47.9, "lon": 7.9}
    a = _rec("a", f"Vortrag mit {first[n]} {last[n]}", start="19:00", **venue)
    b = _rec("b", f"Vortrag mit {first[n + 5]} {last[n + 5]}", start="19:00", **venue)
    s = score_pair(a, b, CFG)
    assert s.decision == NO_MATCH and s.reason.startswith("different speakers")


@pytest.mark.parametrize("n", range(3))
def test_no_promotion_across_a_time_conflict(n: int) -> None:
    title = VOCAB.films[n]
    place = {"city": TOWNS[n], "venue": "Kino im Kornhaus", "lat": 47.9, "lon": 7.9}
    a = _rec("a", title, start="14:00", **place)
    b = _rec("b", title, start="20:00", **place)
    assert score_pair(a, b, CFG).decision != MATCH


@pytest.mark.parametrize("n", range(4))
def test_two_organisers_named_in_the_titles_are_different_events(n: int) -> None:
    c1, c2 = VOCAB.club_names[2 * n], VOCAB.club_names[2 * n + 1]
    place = {"city": TOWNS[n], "venue": "Festhalle", "start": "19:11"}
    a = _rec("a", f"Zunftball der Narrenzunft {c1}", **place)
    b = _rec("b", f"Zunftball der Narrengilde {c2}", **place)
    reason = organiser_conflict(a, b, CFG)
    assert reason is not None and reason.startswith("different organisers")
    assert score_pair(a, b, CFG).decision == NO_MATCH
    same = _rec("c", f"ZUNFTBALL DER NARRENZUNFT {c1.upper()}", **place)
    assert organiser_conflict(a, same, CFG) is None


def test_an_organiser_named_after_its_town_or_on_one_side_only_is_no_conflict() -> None:
    town = TOWNS[4]
    a = _rec("a", f"Blutspende des DRK-Ortsvereins {town}", city=town)
    b = _rec("b", f"Blutspende {town}", city=town)
    c = _rec("c", f"Blutspende der Bereitschaft {town}", city=town)
    assert organiser_conflict(a, b, CFG) is None
    assert organiser_conflict(a, c, CFG) is None


def test_labels_of_one_kind_share_their_last_word_part() -> None:
    assert same_label_kind("diavortrag", "bildervortrag")
    assert same_label_kind("kinotipp", "filmtipp")
    assert same_label_kind("vortrag", "vortrag")
    assert not same_label_kind("kino", "kinotipp")
    assert not same_label_kind("konzert", "vortrag")
    t1, t2 = VOCAB.topics[:2]
    a = _rec("a", f"Diavortrag: {t1}", city=TOWNS[0], venue="Bürgerhaus")
    b = _rec("b", f"Bildervortrag: {t2}", city=TOWNS[0], venue="Bürgerhaus")
    reason = label_name_conflict(a, b, CFG)
    assert reason is not None and reason.startswith("different names")


@pytest.mark.parametrize("verb", ["zu Gast im Bürgerhaus", "liest im Rathaus", "gastiert"])
def test_a_speaker_leading_the_title_is_a_person(verb: str) -> None:
    p1 = f"{VOCAB.first[0]} {VOCAB.last[0]}"
    p2 = f"{VOCAB.first[1]} {VOCAB.last[1]}"
    place = {"city": TOWNS[1], "venue": "Bürgerhaus", "start": "19:00"}
    a = _rec("a", f"{p1} {verb}", **place)
    b = _rec("b", f"{p2} {verb}", **place)
    reason = person_conflict(a, b, CFG)
    assert reason is not None and reason.startswith("different speakers")
    again = _rec("c", f"{VOCAB.last[0]}: Lesung", **place)
    assert person_conflict(a, again, CFG) is None


def test_p_promotes_only_pairs_that_agree_on_what_the_event_is_called() -> None:
    town = TOWNS[5]
    who = f"{VOCAB.first[2]} {VOCAB.last[2]}"
    theme = VOCAB.themes[0]
    a = _rec("a", f"{who}: {theme}", city=town)
    headline = _rec("b", f"Ausstellung „{theme}“ von {who}", city=town)
    exact = _rec("c", f"{who}: {theme}", city=town, source_code="kst")
    generic = _rec("d", "Zunftabend", city=town)
    longer = _rec("e", f"Zunftabend der Narrenzunft {VOCAB.club_names[0]}", city=town)
    assert promotable(a, headline, 0.9, 3, CFG)
    assert promotable(a, exact, 1.0, 3, CFG)
    assert not promotable(generic, longer, 0.85, 1, CFG)
    off = attrs.evolve(CFG, model=attrs.evolve(CFG.model, promote_same_title=False))
    assert not promotable(a, exact, 1.0, 3, off)


def test_a_street_address_as_the_venue_is_no_other_venue() -> None:
    town, title = TOWNS[2], f"{VOCAB.first[3]} {VOCAB.last[3]} – {VOCAB.programmes[0]}"
    place = {"city": town, "start": "20:00", "street": "Lindenweg", "conf": 0.95}
    a = _rec("a", title, venue="Bürgerhaus Sonnenhof", lat=47.95, lon=7.90, **place)
    b = _rec("b", title, venue="Lindenweg 12", lat=47.9655, lon=7.90, **place)
    assert address_only(b) and not address_only(a)
    assert venue_conflict(a, b, CFG) is None
    other = _rec("c", title, venue="Festhalle Rosengrund", lat=47.9655, lon=7.90, **place)
    assert venue_conflict(a, other, CFG) is not None


@pytest.mark.parametrize("n", range(3))
def test_a_one_word_name_is_promotable_only_at_the_same_venue(n: int) -> None:
    town, name = TOWNS[n], VOCAB.club_names[n] + "fest"
    hall = {"city": town, "venue": "Festhalle", "street": "Lindenweg"}
    a = _rec("a", name, start="14:00", **hall)
    b = _rec("b", name, start="14:45", source_code="kst", **hall)
    headline = _rec("c", f"Heimatverein lädt zum {name} ein", start="14:45", **hall)
    elsewhere = _rec("d", name, city=town, venue="Sportplatz", street="Mühlweg", start="14:45")
    assert promotable(a, b, 1.0, 1, CFG)
    assert promotable(a, headline, 0.6, 1, CFG)
    assert not promotable(a, elsewhere, 1.0, 1, CFG)


@pytest.mark.parametrize("party", ["SPD", "Grüne", "Volt"])
def test_a_word_the_other_listing_names_is_no_distinguishing_token(party: str) -> None:
    square = {"city": TOWNS[3], "venue": "Marktplatz", "start": "10:00"}
    a = _rec("a", f"{party} am Markt", **square)
    b = _rec("b", f"{party}-Infostand", **square)
    assert distinguishing_tokens(a, b) is None
    c1, c2 = VOCAB.club_names[3], VOCAB.club_names[4]
    one = _rec("c", f"Sommerfest Kindergarten {c1}", **square)
    other = _rec("d", f"Sommerfest Kindergarten {c2}", **square)
    assert distinguishing_tokens(one, other) is not None


@pytest.mark.parametrize("n", range(3))
def test_a_headline_around_the_name_is_the_same_name(n: int) -> None:
    who = f"{VOCAB.first[n]} {VOCAB.last[n]}"
    work = VOCAB.programmes[n]
    a = _rec("a", f"{who} – {work}", city=TOWNS[n])
    b = _rec("b", f"{who} gastiert mit „{work}“ in {TOWNS[n + 1]}", city=TOWNS[n + 1])
    other = _rec("c", f"{VOCAB.first[n + 3]} {VOCAB.last[n + 3]} – {work}", city=TOWNS[n + 1])
    assert same_name(a, b, 0.85, CFG)
    assert not same_name(a, b, 0.5, CFG)  # too far apart to be a headline around it
    assert not same_name(a, other, 0.85, CFG)
