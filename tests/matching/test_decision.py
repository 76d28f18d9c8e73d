"""score_pair on records: normalised live scoring and the guards (docs/domain.md §13 hard cases)."""

from __future__ import annotations

from eventdedup.matching import score_pair

WK = {"city": "Waldkirch", "lat": 48.0939, "lon": 7.9617}


def test_symmetric(cfg, rec):
    a = rec(id="a", title="Nachtumzug Sexau", city="Sexau")
    b = rec(id="b", title="NACHTUMZUG", city="Sexau", start="19:15")
    assert score_pair(a, b, cfg) == score_pair(b, a, cfg)
    assert score_pair(b, a, cfg).a_id == "a"


def test_all_caps_film_merges_different_films_do_not(cfg, rec):
    kw = dict(
        city="Haslach im Kinzigtal",
        venue="Scala Kino",
        lat=48.2786,
        lon=8.0869,
        short="Kinderfilm im Scala Kino",
    )
    a = rec(id="a", title="Mia und der weiße Löwe", **kw)
    b = rec(id="b", title="MIA UND DER WEISSE LÖWE", **kw)
    c = rec(id="c", title="Die kleine Hexe", **kw)
    assert score_pair(a, b, cfg).decision == "match"
    assert score_pair(a, c, cfg).decision != "match"


def test_normalized_title_dialect_and_prefix(cfg, rec):
    a = rec(id="a", title="Nordwiler Narrenfahrplan - Kita-Gizig-Umzug", city="Kenzingen")
    b = rec(id="b", title="Kita-Gizig-Umzug", city="Kenzingen")
    assert score_pair(a, b, cfg).title == 1.0
    c = rec(id="c", title="Hemdglunki-Umzug", city="Kenzingen")
    d = rec(id="d", title="Hemdklunkerumzug", city="Kenzingen")
    assert score_pair(c, d, cfg).title >= 0.97


def test_distinguishing_token_open_days(cfg, rec):
    a = rec(id="a", title="Tag der offenen Tür - Kindergarten St. Jakobus", **WK)
    b = rec(id="b", title="Tag der offenen Tür - Kindergarten St. Josef", **WK)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match"
    assert s.reason == "distinguishing token: 'jakobus' vs 'josef'"


def test_distinguishing_token_tolerates_ocr(cfg, rec):
    a = rec(id="a", title="Kita-Gizig-Umzug der Narrenzunft", **WK)
    b = rec(id="b", title="Kita-Gziig-Umzug der Narrenzunft", **WK)
    assert score_pair(a, b, cfg).decision == "match"


def test_party_talks_differ(cfg, rec):
    kw = dict(city="Freiburg im Breisgau", lat=47.9961, lon=7.8494)
    a = rec(id="a", title="SPD-Gespräch zur Landtagswahl", **kw)
    b = rec(id="b", title="FDP-Gespräch zur Landtagswahl", **kw)
    assert score_pair(a, b, cfg).reason == "distinguishing token: 'spd' vs 'fdp'"


def test_same_traditional_event_neighbouring_towns(cfg, rec):
    a = rec(id="a", title="Nachtumzug Gundelfingen", city="Gundelfingen", lat=48.0435, lon=7.8672)
    b = rec(id="b", title="Nachtumzug Sexau", city="Sexau", lat=48.1029, lon=7.9052)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and s.reason.startswith("different towns")


def test_district_named_by_one_listing_only(cfg, rec):
    a = rec(id="a", title="Fasnet-Verbrennung Windenreute", city="Emmendingen")
    b = rec(
        id="b", title="Fasnet-Verbrennung in Emmendingen", city="Emmendingen", venue="Marktplatz"
    )
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and "windenreute" in s.reason
    # a listing that names no place at all is no evidence against
    c = rec(id="c", title="Fasnet-Verbrennung", city="Emmendingen", venue="Dorfplatz")
    assert score_pair(a, c, cfg).decision == "match"


def test_district_alias_same_event(cfg, rec):
    a = rec(id="a", title="Fasnetumzug Nordweil", city="Nordweil")
    b = rec(id="b", title="Nordwiler Fasnetumzug", city="Kenzingen", venue="Ortsmitte Nordweil")
    assert score_pair(a, b, cfg).decision == "match"


def test_two_balls_same_town_different_venues(cfg, rec):
    kw = dict(city="Freiburg im Breisgau", start="20:00")
    a = rec(id="a", title="Fasnachtsball Freiburg", venue="Gasthaus Rebstock", **kw)
    b = rec(id="b", title="Fasnetsball Freiburg", venue="Krone", **kw)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and s.reason.startswith("different venues")


def test_headline_vs_listing_rescue(cfg, rec):
    kw = dict(
        city="Denzlingen", venue="Bürgersaal im Rathaus", street="Rathausplatz", start="15:11"
    )
    a = rec(
        id="a",
        title="Schlüssel in Narrenhand",
        source_type="artikel",
        desc="Rathaussturm in Denzlingen: die Gizig-Clique entmachtet den Bürgermeister.",
        **kw,
    )
    b = rec(
        id="b",
        title="Rathaussturm der Gizig-Clique",
        source_type="terminliste",
        short="Die Narren übernehmen das Rathaus.",
        **kw,
    )
    s = score_pair(a, b, cfg)
    assert s.decision == "match", s
    assert s.reason.startswith("match: key words")


def test_different_streets(cfg, rec):
    a = rec(id="a", title="Seniorencafé", street="Hauptstraße", **WK)
    b = rec(id="b", title="Seniorencafé", street="Schulstraße", **WK)
    assert score_pair(a, b, cfg).reason.startswith("different streets")


def test_time_conflict_parades(cfg, rec):
    a = rec(id="a", title="Umzug", start="15:11", **WK)
    b = rec(id="b", title="Umzug", start="19:11", **WK)
    assert score_pair(a, b, cfg).decision != "match"


def test_headline_rescue_needs_words_both_ways(cfg, rec):
    """Headline artikel vs terminliste name: each one's key words in the other's text."""
    kw = dict(city="Haslach im Kinzigtal", venue="Pfarrkirche St. Laurentius", street="Kirchplatz")
    a = rec(
        id="a",
        title="Narrenmesse mit Guggenmusik",
        source_type="terminliste",
        short="Gottesdienst mit den Narren in der Pfarrkirche.",
        start="10:00",
        **kw,
    )
    b = rec(
        id="b",
        title="Narren feiern Gottesdienst in der Pfarrkirche St. Laurentius",
        short="Die Narrenzunft feiert im Häs, die Guggenmusik spielt.",
        start="10:00",
        **kw,
    )
    s = score_pair(a, b, cfg)
    assert s.decision == "match" and "both ways" in s.reason, s
    # same place and time, but the other listing never mentions this one's words
    c = rec(
        id="c",
        title="Orgelkonzert",
        source_type="terminliste",
        short="Werke von Bach.",
        start="10:00",
        **kw,
    )
    assert score_pair(b, c, cfg).decision != "match"


def test_far_apart_dissimilar_venues(cfg, rec):
    kw = dict(title="Kita-Gizig-Umzug", city="Waldkirch", start="15:00", conf=0.95)
    a = rec(id="a", venue="Kindergarten St. Margaretha", lat=48.0873, lon=7.9686, **kw)
    b = rec(id="b", venue="Sporthalle", lat=48.0904, lon=7.9476, **kw)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and s.reason.startswith("different venues"), s
    # the same venue geocoded 1.6 km off is not a conflict when the names agree
    c = rec(id="c", venue="Sporthalle Waldkirch", lat=48.0873, lon=7.9686, **kw)
    assert score_pair(b, c, cfg).decision == "match"


def test_same_label_different_names_are_different_films(cfg, rec):
    kw = dict(
        city="Freiburg im Breisgau",
        venue="Kommunales Kino",
        lat=47.9883,
        lon=7.8577,
        short="Film im Kommunalen Kino",
    )
    a = rec(id="a", title="Kommunales Kino - Perfect Days", **kw)
    b = rec(id="b", title="Kommunales Kino - Wuthering Heights (Sturmhöhe)", **kw)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and s.reason.startswith(
        "different names after 'kommunales kino'"
    )
    # the same film with and without the label, or renamed partly, is not affected
    c = rec(id="c", title="Kommunales Kino - Wuthering Heights", **kw)
    assert score_pair(b, c, cfg).decision == "match"
    d = rec(id="d", title="Wuthering Heights", **kw)
    assert score_pair(a, d, cfg).reason.startswith("different names") is False


def test_different_speakers_same_topic(cfg, rec):
    kw = dict(city="Freiburg im Breisgau", venue="Rathaus", lat=47.9973, lon=7.8505)
    a = rec(id="a", title="Bildervortrag: Wärmepumpe im Bestand mit Monika Burger", **kw)
    b = rec(id="b", title="Diavortrag: Wärmepumpe im Bestand von Martin Hug", **kw)
    s = score_pair(a, b, cfg)
    assert s.decision == "no_match" and s.reason.startswith("different speakers")
    # one source names the speaker only in its text: same talk
    c = rec(
        id="c",
        title="Vortrag: Wärmepumpe im Bestand mit Dr. Martin Hug",
        desc="Referent ist Martin Hug.",
        **kw,
    )
    assert not score_pair(b, c, cfg).reason.startswith("different speakers")
    # a title without a person is no evidence either way
    d = rec(id="d", title="Bildervortrag: Wärmepumpe im Bestand", **kw)
    assert not score_pair(a, d, cfg).reason.startswith("different speakers")
