"""Synthetic event listings at any size, with ground truth (benchmarks, training, tests).

CLI: ``uv run python ops/synthetic.py OUT_DIR --events N [--seed 1] [--vocab-seed K] [--hard R]``

Deterministic by seed.  Everything is made up here: a region of generated
towns (with districts, coordinates spread over a ~110 × 110 km box that
mostly overlaps the blocking region), sources that each cover a part of it,
and real-world events of many kinds spread over the calendar at a constant
density (``--per-day`` listings per calendar day), so a bigger corpus spans
more days and its blocks stay as large as in real data — 1,000,000 listings
span about nine years.

Each real event is printed by one to four sources, each rendering it its own
way: upper-case titles, umlaut transliteration, a label prefix ("Vortrag:"),
a headline instead of the listing title, jittered or missing start times,
another spelling of the venue, the district instead of the town (or the short
town name), a town centroid or a low-confidence geocode instead of the venue
point.  Hard negatives are generated on purpose: a second event at the same
venue on the same day, and an event of the same name in a neighbouring town
on the same day; with ``hard_rate`` > 0 also the look-alike groups of
``make_hard_case`` (films at one cinema, talks at one venue, party stands,
two markets, overlapping exhibitions, two guilds' evenings) and one event
listed under many towns.  ``vocab_seed`` swaps every name vocabulary for a
generated one (``vocabulary.py``).

Listings are streamed into files of ``--file-events`` events in the input
format (``<source>_<DD.MM.YYYY>_<timestamp>.json``); only one file per source
is held in memory.  ``truth.jsonl`` gets one ``{"id", "key", "group"}`` line
per listing: ids with the same ``key`` describe one real event; a ``group``
joins look-alike real events that are different.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eventdedup.synth.vocabulary import Vocabulary, generated_vocabulary

# --- vocabularies (written for this generator) -------------------------------------------------

_TOWN_HEADS = [
    "Mühl",
    "Wald",
    "Berg",
    "Tann",
    "Linden",
    "Eichen",
    "Buchen",
    "Rosen",
    "Sonnen",
    "Kirch",
    "Stein",
    "Brunn",
    "Hasel",
    "Wein",
    "Frei",
    "Schön",
    "Rot",
    "Grün",
    "Fuchs",
    "Hirsch",
    "Adler",
    "Erlen",
    "Birken",
    "Kalt",
    "Warm",
    "Sulz",
    "Salz",
    "Gold",
    "Silber",
    "Lauf",
    "Hohen",
    "Breit",
    "Lang",
    "Kreuz",
    "Markt",
    "Mauer",
    "Wiesen",
    "Bären",
    "Falken",
    "Hagen",
    "Riet",
    "Moos",
    "Tauben",
    "Eschen",
    "Ulmen",
    "Wolfs",
    "Otter",
    "Reh",
    "Biber",
    "Öl",
]
_TOWN_TAILS = [
    "bach",
    "weiler",
    "hausen",
    "ingen",
    "heim",
    "dorf",
    "au",
    "kirch",
    "stetten",
    "feld",
    "burg",
    "tal",
    "hofen",
    "wangen",
    "rode",
    "brück",
    "sweiler",
    "berg",
    "egg",
    "matt",
]
_TOWN_QUALIFIERS = ["", "", "", "", "", "", "Ober", "Unter", "Nieder", "Alt", "Neu", "Groß"]
_TOWN_SUFFIXES = ["im Tal", "am Rhein", "an der Elz", "im Wald", "am See", "ob der Höhe"]

_STREETS = [
    "Hauptstraße",
    "Kirchstraße",
    "Schulstraße",
    "Bahnhofstraße",
    "Gartenstraße",
    "Lindenweg",
    "Marktplatz",
    "Rathausplatz",
    "Mühlenweg",
    "Bergstraße",
    "Talstraße",
    "Schlossgasse",
    "Am Brunnen",
    "Friedhofstraße",
    "Weinstraße",
    "Dorfstraße",
    "Waldstraße",
    "Rosengasse",
]

_SAINTS = ["Martin", "Georg", "Johannes", "Michael", "Nikolaus", "Peter", "Ulrich", "Blasius"]
_INNS = ["Adler", "Hirschen", "Krone", "Sonne", "Löwen", "Rössle", "Ochsen", "Engel", "Rebstock"]

# venue kinds: (canonical name template, spelling variants)
_VENUES: list[tuple[str, tuple[str, ...]]] = [
    ("Stadthalle", ("Stadthalle {town}", "Stadt-Halle")),
    ("Festhalle", ("Festhalle {town}", "Fest-Halle")),
    ("Bürgerhaus", ("Bürgerhaus {town}", "Buergerhaus")),
    ("Gemeindehalle", ("Gemeindehalle {town}", "Gemeinde-Halle")),
    ("Evangelisches Gemeindehaus", ("Ev. Gemeindehaus", "Evang. Gemeindehaus")),
    ("Katholisches Pfarrheim", ("Kath. Pfarrheim", "Pfarrheim")),
    ("Kirche St. {saint}", ("St. {saint}", "Pfarrkirche St. {saint}")),
    ("Gasthaus {inn}", ("Gasthof {inn}", "Zum {inn}")),
    ("Marktplatz", ("Marktplatz {town}", "auf dem Marktplatz")),
    ("Kulturzentrum Alte Mühle", ("Alte Mühle", 'Kulturzentrum "Alte Mühle"')),
    ("Grundschule {town}", ("Grundschule", "Turnhalle der Grundschule")),
    ("Rathaus", ("Rathaussaal", "Rathaus {town}")),
    ("Stadtbibliothek", ("Bibliothek", "Stadtbücherei")),
    ("Sportplatz", ("Sportgelände", "Sportplatz {town}")),
    ("Museum im Schloss", ("Schlossmuseum", "Museum")),
    ("Kino im Kornhaus", ("Kornhaus-Kino", "Kornhauskino")),
]

_FIRST = [
    "Anna",
    "Bernd",
    "Clara",
    "Dieter",
    "Eva",
    "Frank",
    "Gabi",
    "Hans",
    "Ines",
    "Jürgen",
    "Karin",
    "Lukas",
    "Maria",
    "Norbert",
    "Olga",
    "Paul",
    "Rita",
    "Stefan",
    "Tanja",
    "Uwe",
    "Vera",
    "Walter",
    "Yvonne",
    "Zoe",
    "Jörg",
    "Bärbel",
    "Günter",
    "Sören",
]
_LAST = [
    "Maier",
    "Schäfer",
    "Keller",
    "Huber",
    "Wagner",
    "Becker",
    "Schulz",
    "Fischer",
    "Köhler",
    "Bühler",
    "Vogt",
    "Ritter",
    "Zimmermann",
    "Graf",
    "Lorenz",
    "Wehrle",
    "Hässler",
    "Götz",
    "Brändle",
    "Jäger",
    "Sutter",
    "Frey",
    "Löffler",
    "Mössner",
]
_PROGRAMMES = [
    "Ganz schön schräg",
    "Heimatabend",
    "Alles im Fluss",
    "Mitten im Leben",
    "Kopfsalat",
    "Zwischen den Zeilen",
    "Späte Früchte",
    "Über Gott und die Welt",
    "Nachtschicht",
    "Landluft",
    "Grenzgänger",
    "Flüsterpost",
    "Sturm im Wasserglas",
]
_TOPICS = [
    "Streuobstwiesen im Wandel",
    "Die Geschichte der Flößerei",
    "Gesund älter werden",
    "Photovoltaik auf dem eigenen Dach",
    "Vögel im heimischen Garten",
    "Erben und Vererben",
    "Die Römer am Oberrhein",
    "Pilze der Region",
    "Sicher im Internet",
    "Bienen und Wildbienen",
    "Wasserkraft früher und heute",
    "Klimawandel vor der Haustür",
    "Ahnenforschung für Einsteiger",
    "Heilkräuter",
]
_FILMS = [
    "Das Lied der Flüsse",
    "Sommer im Tal",
    "Die letzte Fähre",
    "Grüne Grenze",
    "Zwei Brüder",
    "Der Uhrmacher",
    "Nebel über dem Moor",
    "Heimweh",
    "Die Glockengießerin",
]
_ENSEMBLES = [
    "Blechbläserquintett {town}",
    "Kammerchor Cantabile",
    "Jazztrio Blue Notes",
    "Gitarrenduo Saitenwind",
    "Posaunenchor {town}",
    "Akkordeonorchester {town}",
    "Streichquartett Arcadia",
    "Big Band {town}",
    "Gospelchor Joyful Voices",
]
_SPORTS = ["Fußball", "Tischtennis", "Volleyball", "Handball", "Boule", "Schach", "Tennis"]
_CLUBS = [
    "Musikverein",
    "Turnverein",
    "Narrenzunft",
    "Gesangverein",
    "Schwarzwaldverein",
    "Obst- und Gartenbauverein",
    "Heimatverein",
    "Förderverein",
    "Sportverein",
    "Landfrauen",
]
_SEASONS = ["Frühlings", "Sommer", "Herbst", "Wein", "Dorf", "Straßen", "Brunnen", "Kastanien"]
_LANDMARKS = [
    "Hochkopf",
    "Kandelblick",
    "Eichelspitzturm",
    "Burgruine",
    "Wasserfall",
    "Hünersedel",
    "Kapellenberg",
    "Rheinauen",
    "Moosmatten",
]

_CLUB_NAMES = [
    "Eintracht",
    "Harmonie",
    "Frohsinn",
    "Concordia",
    "Edelweiß",
    "Alpenrose",
    "Germania",
    "Lyra",
    "Urania",
    "Viktoria",
]

BASE_VOCABULARY = Vocabulary(
    seed=None,
    town_heads=tuple(_TOWN_HEADS),
    town_tails=tuple(_TOWN_TAILS),
    first=tuple(_FIRST),
    last=tuple(_LAST),
    programmes=tuple(_PROGRAMMES),
    topics=tuple(_TOPICS),
    films=tuple(_FILMS),
    ensembles=tuple(_ENSEMBLES),
    landmarks=tuple(_LANDMARKS),
    themes=("Farbräume", "Holz und Licht", "Landschaften", "Begegnungen", "Spuren", "Stillleben"),
    club_names=tuple(_CLUB_NAMES),
)


def vocabulary(seed: int | None) -> Vocabulary:
    """The base vocabulary (``None``) or the one generated for ``seed``."""
    return BASE_VOCABULARY if seed is None else generated_vocabulary(seed)


@dataclass
class Town:
    name: str
    lat: float
    lon: float
    zipcode: str
    districts: list[tuple[str, float, float]] = field(default_factory=list)
    short: str | None = None  # "Waldbach" for "Waldbach im Tal"
    neighbour: int = 0


@dataclass
class Kind:
    name: str
    categories: tuple[str, ...]
    weight: float
    times: tuple[str | None, ...]
    venues: tuple[int, ...]  # indexes into _VENUES


_KINDS = [
    Kind("konzert", ("musik",), 12, ("19:00", "19:30", "20:00", "17:00"), (0, 1, 6, 9, 3)),
    Kind("kabarett", ("buehne",), 7, ("20:00", "19:30"), (0, 9, 2, 7)),
    Kind("vortrag", ("bildung",), 10, ("19:00", "19:30", "18:30", "15:00"), (2, 12, 11, 4, 5)),
    Kind("flohmarkt", ("markt",), 6, ("09:00", "10:00", "08:00", None), (8, 13, 3, 10)),
    Kind("fest", ("fest",), 8, ("11:00", "14:00", "17:00", None), (8, 13, 1, 7)),
    Kind("fasnacht", ("fasnacht",), 6, ("19:11", "14:11", "18:11", "19:33"), (0, 1, 3, 8)),
    Kind("gottesdienst", ("kirche",), 6, ("10:00", "09:30", "18:00"), (6,)),
    Kind("wanderung", ("natur",), 7, ("09:00", "13:30", "10:00", None), (8, 11, 13)),
    Kind("ausstellung", ("kunst",), 5, (None, "10:00", "14:00"), (14, 2, 9, 11)),
    Kind("sport", ("sport",), 6, ("10:00", "14:00", "09:00"), (13, 10, 1)),
    Kind("kinder", ("kinder",), 8, ("15:00", "14:30", "10:00"), (12, 2, 5, 10)),
    Kind("versammlung", ("versammlung",), 6, ("19:30", "20:00", "19:00"), (7, 3, 11, 5)),
    Kind("kino", ("buehne",), 6, ("20:00", "17:30", "20:15"), (15, 9)),
    Kind("senioren", ("senioren",), 5, ("14:30", "15:00", "14:00"), (4, 5, 2, 7)),
]
_KIND_WEIGHTS = [k.weight for k in _KINDS]


def _umlaut_translit(s: str) -> str:
    return (
        s.replace("ä", "ae")
        .replace("ö", "oe")
        .replace("ü", "ue")
        .replace("Ä", "Ae")
        .replace("Ö", "Oe")
        .replace("Ü", "Ue")
        .replace("ß", "ss")
    )


# --- the region ---------------------------------------------------------------------------------

#: Box the towns are spread over; most of it lies inside the blocking region (47.5–48.5 N,
#: 7.3–8.5 E), a strip outside it holds towns whose geocodes are never trusted for blocking.
REGION = (47.45, 48.55, 7.25, 8.6)


def make_region(rng: random.Random, v: Vocabulary, n_towns: int = 260) -> list[Town]:
    names: set[str] = set()
    towns: list[Town] = []
    lat0, lat1, lon0, lon1 = REGION
    while len(towns) < n_towns:
        base = (
            rng.choice(_TOWN_QUALIFIERS)
            + rng.choice(v.town_heads).lower()
            + rng.choice(v.town_tails)
        )
        base = base[0].upper() + base[1:]
        if base in names:
            continue
        names.add(base)
        name, short = base, None
        if rng.random() < 0.08:
            name, short = f"{base} {rng.choice(_TOWN_SUFFIXES)}", base
        lat, lon = rng.uniform(lat0, lat1), rng.uniform(lon0, lon1)
        town = Town(name, lat, lon, f"7{rng.randrange(6000, 9999)}", short=short)
        for _ in range(rng.choice((0, 0, 0, 1, 2, 3))):
            d = rng.choice(v.town_heads) + rng.choice(v.town_tails)
            if d in names:
                continue
            names.add(d)
            town.districts.append(
                (d, lat + rng.uniform(-0.03, 0.03), lon + rng.uniform(-0.04, 0.04))
            )
        towns.append(town)
    for i, t in enumerate(towns):
        best, best_d = i, math.inf
        for j, u in enumerate(towns):
            if j == i:
                continue
            dist = (t.lat - u.lat) ** 2 + ((t.lon - u.lon) * 0.67) ** 2
            if dist < best_d:
                best, best_d = j, dist
        t.neighbour = best
    return towns


@dataclass
class Source:
    code: str
    towns: list[int]
    caps: bool = False  # prints titles in capitals
    translit: bool = False  # writes ae/oe/ue
    headline: bool = False  # newspaper: headline-style titles
    prefix_labels: bool = False  # "Vortrag: ...", "Konzert - ..."
    geo_quality: float = 0.8


_SOURCE_CODES = ["abz", "bzk", "wnb", "kst", "rhl", "tbl", "sbo", "mwz", "elk", "hgz", "kbl"]


def make_sources(rng: random.Random, towns: list[Town]) -> list[Source]:
    sources = []
    for i, code in enumerate(_SOURCE_CODES):
        if i < 2:  # two regional papers cover everything
            covered = list(range(len(towns)))
        else:
            c = rng.choice(towns)
            radius = rng.uniform(0.25, 0.45)
            covered = [
                j
                for j, t in enumerate(towns)
                if (t.lat - c.lat) ** 2 + ((t.lon - c.lon) * 0.67) ** 2 <= radius**2
            ]
        sources.append(
            Source(
                code,
                covered,
                caps=i in (3, 8),
                translit=i in (4, 9),
                headline=i in (0, 5, 6),
                prefix_labels=i in (1, 7, 10),
                geo_quality=rng.uniform(0.55, 0.95),
            )
        )
    return sources


# --- real events --------------------------------------------------------------------------------


@dataclass
class RealEvent:
    key: str
    kind: Kind
    title: str
    label: str  # "Vortrag", "Konzert", ...
    headline: str
    town: int
    district: int | None  # index into the town's districts, when it happens there
    venue: int
    venue_name: str
    venue_variants: tuple[str, ...]
    street: str
    street_no: str | None
    lat: float
    lon: float
    day: dt.date
    time: str | None
    end_date: dt.date | None
    dates: list[dt.date]
    short: str
    description: str | None
    group: str | None = None
    decorate: bool = False  # sources add a label prefix or the town to the title
    listed_towns: tuple[int, ...] = ()  # each source lists it under one of these towns
    single_days: bool = False  # some sources list one day of its date range on its own
    bare_title: str | None = None  # some sources print only this generic name


def _pick_title(
    rng: random.Random, v: Vocabulary, kind: Kind, town: Town, saint: str
) -> tuple[str, str, str]:
    """(listing title, label, headline)."""
    place = town.short or town.name
    club = rng.choice(_CLUBS)
    person = f"{rng.choice(v.first)} {rng.choice(v.last)}"
    name = kind.name
    if name == "konzert":
        ens = rng.choice(v.ensembles).format(town=place)
        title = rng.choice(
            (
                f"Jahreskonzert des {club}s {place}",
                f"Konzert mit dem {ens}",
                f"{ens}: {rng.choice(v.programmes)}",
                f"Frühjahrskonzert {ens}",
            )
        )
        return title, "Konzert", f"{ens} spielt in {place}"
    if name == "kabarett":
        prog = rng.choice(v.programmes)
        return f"{person} – {prog}", "Kabarett", f"{person} gastiert mit „{prog}“ in {place}"
    if name == "vortrag":
        topic = rng.choice(v.topics)
        return topic, "Vortrag", f"{person} spricht über {topic.lower()}"
    if name == "flohmarkt":
        t = rng.choice(
            ("Flohmarkt", "Kinderflohmarkt", "Hofflohmarkt", "Bücherflohmarkt", "Kleiderbörse")
        )
        return t, "Markt", f"{t} in {place}"
    if name == "fest":
        t = rng.choice(_SEASONS) + "fest"
        return (
            rng.choice((t, f"{t} {place}", f"{t} des {club}s")),
            "Fest",
            f"{club} lädt zum {t} ein",
        )
    if name == "fasnacht":
        t = rng.choice(
            (
                "Fasnetsumzug",
                "Zunftabend",
                "Hemdglunkerumzug",
                "Kinderfasnet",
                "Narrenbaumstellen",
                "Bunter Abend",
                "Zunftball",
            )
        )
        return f"{t} der Narrenzunft {place}", "Fasnet", f"Narren feiern: {t} in {place}"
    if name == "gottesdienst":
        t = rng.choice(
            (
                "Familiengottesdienst",
                "Ökumenischer Gottesdienst",
                "Taizé-Andacht",
                "Jubiläumsgottesdienst",
                "Maiandacht",
            )
        )
        return t, "Kirche", f"{t} in St. {saint}"
    if name == "wanderung":
        lm = rng.choice(v.landmarks)
        return f"Wanderung zum {lm}", "Wanderung", f"{club} wandert zum {lm}"
    if name == "ausstellung":
        theme = rng.choice(v.themes)
        return f"{person}: {theme}", "Ausstellung", f"Ausstellung „{theme}“ von {person}"
    if name == "sport":
        sp = rng.choice(_SPORTS)
        return f"{sp}-Turnier", "Sport", f"{club} richtet {sp}-Turnier aus"
    if name == "kinder":
        t = rng.choice(
            (
                "Bastelnachmittag für Kinder",
                "Vorlesestunde",
                "Kinderkino",
                "Laternenbasteln",
                "Kinderyoga",
                "Ferienprogramm: Waldforscher",
            )
        )
        return t, "Kinderprogramm", f"{t} in {place}"
    if name == "versammlung":
        return f"Jahreshauptversammlung {club}", "Verein", f"{club} {place} zieht Bilanz"
    if name == "kino":
        film = rng.choice(v.films)
        return film, "Kommunales Kino", f"Kommunales Kino zeigt „{film}“"
    t = rng.choice(("Seniorennachmittag", "Seniorencafé", "Spielenachmittag", "Tanztee"))
    return t, "Senioren", f"{t} für Ältere in {place}"


_SHORTS = {
    "konzert": "Musikalischer Abend mit abwechslungsreichem Programm.",
    "kabarett": "Kabarettabend mit viel Wortwitz.",
    "vortrag": "Vortrag mit anschließender Diskussion.",
    "flohmarkt": "Stöbern, handeln und Schnäppchen finden.",
    "fest": "Festbetrieb mit Bewirtung und Musik.",
    "fasnacht": "Närrisches Treiben für Groß und Klein.",
    "gottesdienst": "Gottesdienst für die ganze Gemeinde.",
    "wanderung": "Geführte Wanderung, festes Schuhwerk empfohlen.",
    "ausstellung": "Ausstellung mit neuen Arbeiten.",
    "sport": "Turnier für Mannschaften aus der Region.",
    "kinder": "Angebot für Kinder ab sechs Jahren.",
    "versammlung": "Berichte, Wahlen und Ehrungen.",
    "kino": "Filmabend im kommunalen Kino.",
    "senioren": "Gemütliches Beisammensein bei Kaffee und Kuchen.",
}


def _point(rng: random.Random, town: Town, district: int | None) -> tuple[float, float]:
    lat, lon = (town.lat, town.lon) if district is None else town.districts[district][1:]
    return lat + rng.uniform(-0.006, 0.006), lon + rng.uniform(-0.008, 0.008)


def make_real_event(
    rng: random.Random, v: Vocabulary, n: int, towns: list[Town], day: dt.date
) -> RealEvent:
    kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    ti = rng.randrange(len(towns))
    town = towns[ti]
    district = rng.randrange(len(town.districts)) if town.districts and rng.random() < 0.3 else None
    saint = rng.choice(_SAINTS)
    title, label, headline = _pick_title(rng, v, kind, town, saint)
    vi = rng.choice(kind.venues)
    canonical, variants = _VENUES[vi]
    fill = {"town": town.short or town.name, "saint": saint, "inn": rng.choice(_INNS)}
    venue_name = canonical.format(**fill)
    lat, lon = _point(rng, town, district)
    end_date = None
    dates = [day]
    if kind.name == "ausstellung":
        end_date = day + dt.timedelta(days=rng.choice((6, 13, 20, 27, 41)))
    elif rng.random() < 0.05:
        dates.append(day + dt.timedelta(days=rng.choice((1, 7))))
    desc = None
    if rng.random() < 0.4:
        desc = (
            f"{headline}. Beginn {rng.choice(kind.times) or 'ganztägig'}, "
            f"{venue_name}, {town.name}. Eintritt {rng.choice(('frei', '8 Euro', '12 Euro'))}."
        )
    return RealEvent(
        key=f"R{n:08d}",
        kind=kind,
        title=title,
        label=label,
        headline=headline,
        town=ti,
        district=district,
        venue=vi,
        venue_name=venue_name,
        venue_variants=tuple(v.format(**fill) for v in variants),
        street=rng.choice(_STREETS),
        street_no=str(rng.randrange(1, 80)) if rng.random() < 0.6 else None,
        lat=lat,
        lon=lon,
        day=day,
        time=rng.choice(kind.times),
        end_date=end_date,
        dates=dates,
        short=_SHORTS[kind.name],
        description=desc,
    )


def make_sibling(
    rng: random.Random, v: Vocabulary, n: int, towns: list[Town], ev: RealEvent
) -> RealEvent:
    """A different event that looks alike: same venue and day, or same name next door."""
    if rng.random() < 0.5:
        # same venue, same day, another event (second club's ball, afternoon market, ...)
        other = make_real_event(rng, v, n, towns, ev.day)
        other.town, other.district, other.venue = ev.town, ev.district, ev.venue
        other.venue_name, other.venue_variants = ev.venue_name, ev.venue_variants
        other.street, other.street_no, other.lat, other.lon = (
            ev.street,
            ev.street_no,
            ev.lat,
            ev.lon,
        )
        if ev.kind.name == "fasnacht" and rng.random() < 0.7:
            other.kind, other.title = (
                ev.kind,
                ev.title.rsplit(" der ", 1)[0] + f" der {rng.choice(_CLUBS)} {rng.choice(v.last)}",
            )
    else:
        # same name, neighbouring town, same day
        ti = towns[ev.town].neighbour
        other = make_real_event(rng, v, n, towns, ev.day)
        town = towns[ti]
        place, old_place = town.short or town.name, towns[ev.town].short or towns[ev.town].name
        other.kind, other.label = ev.kind, ev.label
        other.title = ev.title.replace(old_place, place)
        other.headline = ev.headline.replace(old_place, place)
        other.town, other.district = ti, None
        other.lat, other.lon = _point(rng, town, None)
        other.time = ev.time
    other.group = ev.group = ev.group or f"G{ev.key[1:]}"
    return other


# --- hard cases (hard_rate > 0) -----------------------------------------------------------------

_PARTIES = ("CDU", "SPD", "FDP", "Grüne", "Die Linke", "Freie Wähler", "ÖDP", "Volt")
_MARKETS = ("Flohmarkt", "Kinderflohmarkt", "Basar", "Spielzeugbörse", "Kinderkleiderbasar")
_GUILD_KINDS = ("Narrenzunft", "Narrengilde", "Narrenverein", "Fasnetsgesellschaft")
_CARNIVAL_EVENINGS = ("Zunftabend", "Bunter Abend", "Narrenabend", "Kinderball", "Zunftball")
_COMPETITIONS = ("Regionalentscheid", "Kreismeisterschaft", "Bezirkswettbewerb", "Regionalcup")
_TALK_LABELS = ("Vortrag", "Diavortrag", "Bildervortrag", "Lichtbildervortrag")
_COURSES = ("Yogakurs", "Töpferkurs", "Malkurs", "Pilates", "Nähkurs", "Tanzkurs", "Sprachkurs")
_REHEARSALS = ("Offene Probe", "Chorprobe", "Probe")
_WEEKLY_MARKETS = ("Wochenmarkt", "Bauernmarkt", "Feierabendmarkt")


def _at(ev: RealEvent, time: str | None, title: str, label: str, headline: str) -> RealEvent:
    ev.time, ev.title, ev.label, ev.headline = time, title, label, headline
    return ev


def _same_place(ev: RealEvent, like: RealEvent) -> RealEvent:
    ev.town, ev.district, ev.venue = like.town, like.district, like.venue
    ev.venue_name, ev.venue_variants = like.venue_name, like.venue_variants
    ev.street, ev.street_no, ev.lat, ev.lon = like.street, like.street_no, like.lat, like.lon
    return ev


def _shift(time: str, minutes: int) -> str:
    h, m = map(int, time.split(":"))
    t = h * 60 + m + minutes
    return f"{(t // 60) % 24:02d}:{t % 60:02d}"


def _with_venue(rng: random.Random, ev: RealEvent, towns: list[Town], vi: int) -> RealEvent:
    canonical, variants = _VENUES[vi]
    town = towns[ev.town]
    fill = {"town": town.short or town.name, "saint": rng.choice(_SAINTS), "inn": "Adler"}
    ev.venue, ev.venue_name = vi, canonical.format(**fill)
    ev.venue_variants = tuple(x.format(**fill) for x in variants)
    ev.lat, ev.lon = _point(rng, town, ev.district)
    ev.street = rng.choice(_STREETS)
    return ev


def make_hard_case(
    rng: random.Random, v: Vocabulary, n: int, towns: list[Town], day: dt.date
) -> list[RealEvent]:
    """A group of different events that look alike, or one event listed under many towns."""

    def fresh(k: int) -> RealEvent:
        return make_real_event(rng, v, n + k, towns, day)

    def person() -> str:
        return f"{rng.choice(v.first)} {rng.choice(v.last)}"

    case = rng.choice(
        (
            "films",
            "talks",
            "stands",
            "markets",
            "exhibitions",
            "carnival",
            "many",
            "series",
            "festival",
        )
    )
    first = fresh(0)
    place = towns[first.town].short or towns[first.town].name
    out: list[RealEvent] = []
    if case == "films":  # different films at one cinema at (nearly) the same hour
        _with_venue(rng, first, towns, 15)
        label = rng.choice(("Kinotipp", "Kinderfilm", "Filmtipp", "Kino"))
        films = rng.sample(v.films, min(len(v.films), rng.choice((2, 2, 3))))
        for k, film in enumerate(films):
            ev = first if k == 0 else _same_place(fresh(k), first)
            ev.kind = _KINDS[12]
            out.append(_at(ev, rng.choice(("15:00", "15:30")), film, label, f"{label}: „{film}“"))
            ev.decorate = True
    elif case == "talks":  # different talks at one venue, same evening, same series text
        _with_venue(rng, first, towns, rng.choice((2, 4, 11)))
        series = (
            f"Vortragsreihe der {rng.choice(_CLUBS)} {rng.choice(v.club_names)}: "
            f"Vorträge zu Natur, Gesundheit und Geschichte. Eintritt frei."
        )
        venue_word = first.venue_name.split()[0]
        for k in range(2):
            ev = first if k == 0 else _same_place(fresh(k), first)
            ev.kind = _KINDS[2]
            if rng.random() < 0.5:
                title = f"{person()} zu Gast im {venue_word}"
            else:
                title = f"{rng.choice(_TALK_LABELS)}: {rng.choice(v.topics)}"
            out.append(_at(ev, rng.choice(("19:00", "19:30", "20:00")), title, "Vortrag", title))
            ev.description = series
            ev.short = series
    elif case == "stands":  # different parties' info stands on one square, 30 min apart
        _with_venue(rng, first, towns, 8)
        start = rng.choice(("09:00", "09:30", "10:00"))
        for k, party in enumerate(rng.sample(_PARTIES, rng.choice((2, 2, 3)))):
            ev = first if k == 0 else _same_place(fresh(k), first)
            title = rng.choice(
                (f"Infostand der {party}", f"{party}-Infostand", f"{party} informiert")
            )
            out.append(_at(ev, _shift(start, 30 * k), title, "Infostand", f"{party} am Markt"))
            ev.short = "Informationsstand zur Wahl, Gespräche mit den Kandidaten."
    elif case == "markets":  # two markets in one town on one day, different organisers
        kind = rng.choice(_MARKETS)
        organisers = (
            f"Elternbeirat der Grundschule {place}",
            f"Förderverein {rng.choice(v.club_names)}",
        )
        for k, org in enumerate(organisers):
            ev = first if k == 0 else fresh(k)
            ev.town, ev.district = first.town, first.district
            _with_venue(rng, ev, towns, (10, 3, 13, 8)[k + rng.randrange(2)])
            if k == 1 and rng.random() < 0.5:
                _same_place(ev, first)
            ev.kind = _KINDS[3]
            title = rng.choice((kind, f"{kind} des {org}", f"{kind} ({org})"))
            time = _shift("09:00", rng.choice((0, 15, 30, 45)) if k else 0)
            out.append(_at(ev, time, title, "Markt", f"{org} lädt zum {kind}"))
            ev.description = f"{kind}, veranstaltet vom {org}. Verkäufer melden sich an."
    elif case == "exhibitions":  # overlapping exhibitions at one town hall
        _with_venue(rng, first, towns, 11)
        for k in range(2):
            ev = first if k == 0 else _same_place(fresh(k), first)
            ev.kind = _KINDS[8]
            ev.day = day + dt.timedelta(days=k * rng.choice((14, 21)))
            ev.dates = [ev.day]
            ev.end_date = ev.day + dt.timedelta(days=rng.choice((27, 34, 41)))
            who, theme = person(), rng.choice(v.themes)
            out.append(
                _at(ev, None, f"{who}: {theme}", "Ausstellung", f"Ausstellung „{theme}“ von {who}")
            )
    elif case == "carnival":  # two guilds' evenings in one town, or office hours vs comedy
        if rng.random() < 0.75:
            evening = rng.choice(_CARNIVAL_EVENINGS)
            guilds = rng.sample(v.club_names, 2)
            same_hall = evening == "Kinderball" and rng.random() < 0.5
            bare = rng.random() < 0.5
            for k, guild in enumerate(guilds):
                ev = first if k == 0 else fresh(k)
                ev.town, ev.district = first.town, first.district
                if same_hall and k:
                    _same_place(ev, first)
                else:
                    _with_venue(rng, ev, towns, (0, 1, 3)[k])
                ev.kind = _KINDS[5]
                who = f"{rng.choice(_GUILD_KINDS)} {guild}"
                title = f"{evening} {place}" if same_hall and k else f"{evening} der {who}"
                time = "19:11" if k == 0 else "19:33"
                if not same_hall and bare:  # some sources print only "<evening>"
                    ev.bare_title, time = evening, ("19:00", "20:11")[k]
                out.append(_at(ev, time, title, "Fasnet", title))
        else:
            _with_venue(rng, first, towns, 11)
            out.append(
                _at(
                    first,
                    "17:00",
                    "Sprechstunde des Bürgermeisters",
                    "Rathaus",
                    "Bürgermeister lädt zur Sprechstunde",
                )
            )
            ev = fresh(1)
            ev.town, ev.district = first.town, first.district
            _with_venue(rng, ev, towns, 9)
            ev.kind = _KINDS[1]
            prog = f"Der {rng.choice(v.last)} ist Bürgermeister"
            out.append(_at(ev, "17:30", prog, "Kabarett", f"{person()} mit „{prog}“"))
    elif case == "series":  # one film / course / rehearsal / market on several days
        # each showing or session is its own event (docs/domain.md §13); a film's runs
        # may share one day ("Fr-So" and "So-Mi" listed as two programme weeks)
        what = rng.choice(("film", "course", "rehearsal", "market"))
        if what == "film":
            vi, skind, label = 15, _KINDS[12], "Kino"
            title, time = rng.choice(v.films), rng.choice(("17:30", "20:00", "15:00"))
        elif what == "course":
            vi, skind, label = rng.choice((2, 4, 5, 12)), _KINDS[2], "Kurs"
            title, time = f"{rng.choice(_COURSES)} mit {person()}", rng.choice(("18:30", "19:00"))
        elif what == "rehearsal":
            vi, skind, label = rng.choice((3, 4, 6)), _KINDS[0], "Musik"
            ens = rng.choice(v.ensembles).format(town=place)
            title, time = f"{rng.choice(_REHEARSALS)}: {ens}", rng.choice(("19:30", "20:00"))
        else:
            vi, skind, label = 8, _KINDS[3], "Markt"
            title, time = f"{rng.choice(_WEEKLY_MARKETS)} {place}", rng.choice(("08:00", "16:00"))
        _with_venue(rng, first, towns, vi)
        runs: list[list[dt.date]]
        if what == "film" and rng.random() < 0.5:
            split = rng.choice((2, 3))
            runs = [
                [day + dt.timedelta(days=i) for i in range(split + 1)],
                [day + dt.timedelta(days=i) for i in range(split, split + rng.choice((3, 4)))],
            ]
        else:
            step = rng.choice((1, 2, 7)) if what == "film" else 7
            runs = [[day + dt.timedelta(days=k * step)] for k in range(rng.choice((2, 3)))]
        text = f"{title}: {label.lower()} in {first.venue_name}, jede Woche neu."
        for k, days in enumerate(runs):
            ev = first if k == 0 else _same_place(fresh(k), first)
            ev.kind, ev.day, ev.dates, ev.end_date = skind, days[0], days, None
            out.append(_at(ev, time, title, label, f"{label}: {title}"))
            ev.description = ev.short = text
    elif case == "festival":  # one multi-day event: a range by some sources, one day by others
        t = rng.choice(_SEASONS) + "fest"
        first.kind, first.end_date = _KINDS[4], day + dt.timedelta(days=rng.choice((1, 2, 3)))
        first.single_days = True
        return [_at(first, "14:00", f"{t} {place}", "Fest", f"{place} feiert das {t}")]
    else:  # one regional competition listed under many towns
        sport = rng.choice(_SPORTS)
        title = f"{rng.choice(_COMPETITIONS)} {sport}"
        near = sorted(
            range(len(towns)),
            key=lambda j: (
                (towns[j].lat - towns[first.town].lat) ** 2
                + ((towns[j].lon - towns[first.town].lon) * 0.67) ** 2
            ),
        )[: rng.randrange(4, 12)]
        first.kind = _KINDS[9]
        first.listed_towns = tuple(near)
        out.append(_at(first, "10:00", title, "Sport", f"{title}: Teams aus der Region"))
        return out
    group = f"H{first.key[1:]}"
    for ev in out:
        ev.group = group
    return out


#: time shifts of hard renderings; a source printing the wrong hour is rarer
_JITTER_HARD = (-45, -30, -15, 15, 20, 30, 45, -45, -30, -15, 15, 20, 30, 45, -60, 60)

# --- listings -----------------------------------------------------------------------------------


def render(
    rng: random.Random,
    ev: RealEvent,
    src: Source,
    towns: list[Town],
    event_id: str,
    hard: bool = False,
) -> dict[str, Any]:
    town = towns[ev.town]
    title = ev.title
    if ev.bare_title and rng.random() < 0.4:
        title = ev.bare_title
    if ev.decorate:  # "Kinotipp: <film>", "<film> <town>"
        r = rng.random()
        if r < 0.45:
            title = f"{ev.label}: {title}"
        elif r < 0.65:
            title = f"{title} {town.short or town.name}"
    r = rng.random()
    if src.headline and r < 0.6:
        title = ev.headline
    elif src.prefix_labels and r < 0.5:
        title = f"{ev.label}: {title}" if rng.random() < 0.5 else f"{ev.label} - {title}"
    elif r < 0.08:
        title = f"{town.short or town.name}: {title}"
    if src.caps and rng.random() < 0.7:
        title = title.upper()
    if src.translit and rng.random() < 0.8:
        title = _umlaut_translit(title)

    # city: municipality, district, short name
    city: str | None = town.name
    district_name = town.districts[ev.district][0] if ev.district is not None else None
    sanitized: str | None = town.name
    r = rng.random()
    if district_name and r < 0.5:
        city = district_name  # printed as the district
        sanitized = town.name if rng.random() < 0.6 else None
    elif town.short and r < 0.5:
        city = town.short
        sanitized = town.name if rng.random() < 0.5 else None
    elif r < 0.03:
        city, sanitized = None, None
    # hard positives: listed under another town (one of many, the neighbour, the paper's)
    shown: Town | None = None
    if ev.listed_towns:
        shown = towns[rng.choice(ev.listed_towns)]
    elif hard and rng.random() < 0.06:
        shown = towns[town.neighbour]
    if shown is not None:
        city, sanitized, district_name = shown.name, shown.name, None

    # venue spelling
    r = rng.random()
    venue: str | None = ev.venue_name
    if r < 0.35:
        venue = rng.choice(ev.venue_variants)
    elif r < 0.45:
        venue = None
    if hard and rng.random() < 0.06:  # the street address only
        venue = f"{ev.street} {ev.street_no or rng.randrange(1, 40)}"
    if venue and src.translit:
        venue = _umlaut_translit(venue)

    # geo: venue point, town centroid, low confidence, missing, rarely far off
    r = rng.random()
    geo: dict[str, Any] | None
    if r < src.geo_quality * 0.75:
        geo = {
            "latitude": round(ev.lat + rng.uniform(-0.0008, 0.0008), 7),
            "longitude": round(ev.lon + rng.uniform(-0.0011, 0.0011), 7),
            "confidence": round(rng.uniform(0.86, 1.0), 4),
            "country": "DEU",
        }
    elif r < src.geo_quality:
        geo = {
            "latitude": round(town.lat, 5),
            "longitude": round(town.lon, 5),
            "confidence": round(rng.uniform(0.7, 0.95), 4),
            "country": "DEU",
        }
    elif r < 0.97:
        geo = {
            "latitude": round(ev.lat + rng.uniform(-0.05, 0.05), 6),
            "longitude": round(ev.lon + rng.uniform(-0.05, 0.05), 6),
            "confidence": round(rng.uniform(0.3, 0.84), 4),
            "country": "DEU",
        }
    elif r < 0.995:
        geo = None
    else:
        geo = {"latitude": 49.74, "longitude": 8.33, "confidence": 0.848, "country": "DEU"}

    if shown is not None and rng.random() < 0.7:  # geocoded to the town it is listed under
        geo = {
            "latitude": round(shown.lat, 5),
            "longitude": round(shown.lon, 5),
            "confidence": round(rng.uniform(0.7, 0.95), 4),
            "country": "DEU",
        }

    # dates and times
    dates = []
    for d in ev.dates:
        t = ev.time
        r = rng.random()
        if t is not None and r < (0.2 if hard else 0.15):
            h, m = map(int, t.split(":"))
            m2 = h * 60 + m + rng.choice(_JITTER_HARD if hard else (-30, -15, 15, 19, 30))
            t = f"{(m2 // 60) % 24:02d}:{m2 % 60:02d}"
        elif r < 0.22:
            t = None
        if t is not None and rng.random() < 0.5:
            t = t + ":00"
        entry = {
            "date": d.isoformat(),
            "start_time": t,
            "end_time": None,
            "end_date": ev.end_date.isoformat() if ev.end_date else None,
        }
        dates.append(entry)
    if ev.end_date and rng.random() < 0.15:  # some list only the opening day
        dates = [{**dates[0], "end_date": None}]
    elif ev.single_days and ev.end_date and rng.random() < 0.5:  # one day of the range
        one = ev.day + dt.timedelta(days=rng.randrange((ev.end_date - ev.day).days + 1))
        dates = [{**dates[0], "date": one.isoformat(), "end_date": None}]

    short = ev.short if rng.random() < 0.7 else f"{ev.headline}."
    description = ev.description if rng.random() < 0.6 else None
    source_type = (
        "terminliste" if not src.headline else rng.choice(("artikel", "artikel", "anzeige"))
    )
    categories = list(ev.kind.categories)
    if rng.random() < 0.15:
        categories.append(rng.choice(("familie", "kultur", "kinder", "musik")))
    return {
        "id": event_id,
        "title": title,
        "short_description": short,
        "description": description,
        "highlights": None if rng.random() < 0.7 else ["Bewirtung", "Eintritt frei"],
        "event_dates": dates,
        "location": {
            "name": venue,
            "city": city,
            "district": district_name if city != district_name else None,
            "street": ev.street,
            "street_no": ev.street_no,
            "zipcode": town.zipcode,
            "_sanitizeResult": {
                "city": sanitized,
                "district": district_name,
                "confidence": 1 if sanitized else 0.5,
                "matchType": "exact" if sanitized else "none",
                "requiresReview": sanitized is None,
            },
            "geo": geo,
        },
        "source_type": source_type,
        "categories": categories,
        "is_family_event": ev.kind.name in ("kinder", "fest") or None,
        "is_child_focused": ev.kind.name == "kinder",
        "admission_free": rng.choice((True, False, None)),
        "registration_required": None,
        "registration_contact": None,
        "confidence_score": round(rng.uniform(0.7, 0.95), 2),
    }


# --- the stream ---------------------------------------------------------------------------------


@dataclass
class GeneratedFile:
    name: str
    document: dict[str, Any]
    truth: list[tuple[str, str, str | None]]  # (id, key, group)

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.document["events"]

    def to_bytes(self) -> bytes:
        return json.dumps(self.document, ensure_ascii=False).encode()


@dataclass
class _Edition:
    source: Source
    number: int
    events: list[dict[str, Any]] = field(default_factory=list)
    truth: list[tuple[str, str, str | None]] = field(default_factory=list)


def generate(
    seed: int = 1,
    *,
    file_events: int = 200,
    per_day: int = 300,
    start: dt.date = dt.date(2018, 1, 1),
    sources_per_event: tuple[float, ...] = (0.42, 0.30, 0.18, 0.10),
    sibling_rate: float = 0.08,
    vocab_seed: int | None = None,
    hard_rate: float = 0.0,
) -> Iterator[GeneratedFile]:
    """Endless stream of files (take as many as needed); deterministic by the seeds.

    ``vocab_seed`` picks the names (``None``: the base vocabulary, see
    ``vocabulary``); ``hard_rate`` > 0 adds groups of hard look-alikes
    (``make_hard_case``) at that rate per real event and harder renderings
    (time shifts up to 45 min, the neighbouring town, a street address as venue).
    """
    rng = random.Random(seed)
    v = vocabulary(vocab_seed)
    hard = hard_rate > 0
    towns = make_region(rng, v)
    sources = make_sources(rng, towns)
    by_town: list[list[Source]] = [[] for _ in towns]
    for s in sources:
        for t in s.towns:
            by_town[t].append(s)
    editions = {s.code: _Edition(s, 0) for s in sources}
    counts = [1, 2, 3, 4]
    n_real = 0
    day = start
    while True:
        listed = 0
        while listed < per_day:
            if hard and rng.random() < hard_rate:
                batch = make_hard_case(rng, v, n_real, towns, day)
                n_real += len(batch) + 1
            else:
                ev = make_real_event(rng, v, n_real, towns, day)
                n_real += 1
                batch = [ev]
                if rng.random() < sibling_rate:
                    batch.append(make_sibling(rng, v, n_real, towns, ev))
                    n_real += 1
            for e in batch:
                k = rng.choices(counts, sources_per_event)[0]
                cands = by_town[e.town]
                if e.listed_towns:  # one source per town it is listed under
                    k = len(e.listed_towns)
                    cands = list({s.code: s for t in e.listed_towns for s in by_town[t]}.values())
                chosen = rng.sample(cands, min(k, len(cands)))
                if rng.random() < 0.01:
                    chosen.append(chosen[0])  # printed twice in one edition
                for src in chosen:
                    ed = editions[src.code]
                    event_id = _event_id(src.code, ed.number, len(ed.events))
                    ed.events.append(render(rng, e, src, towns, event_id, hard))
                    ed.truth.append((event_id, e.key, e.group))
                    listed += 1
                    if len(ed.events) >= file_events:
                        yield _close(ed, day, seed)
                        editions[src.code] = _Edition(src, ed.number + 1)
        day += dt.timedelta(days=1)


def _event_id(code: str, edition: int, index: int) -> str:
    digest = hashlib.blake2s(f"{code}/{edition}".encode(), digest_size=4).hexdigest()
    return f"pdf-{digest}-{edition}-{index}"


def _close(ed: _Edition, day: dt.date, seed: int) -> GeneratedFile:
    issued = dt.datetime.combine(day - dt.timedelta(days=5), dt.time(20, 0)) + dt.timedelta(
        seconds=ed.number % 3600, milliseconds=seed % 1000
    )
    stamp = issued.strftime("%Y-%m-%dT%H-%M-%S-") + f"{issued.microsecond // 1000:03d}Z"
    name = f"{ed.source.code}_{issued:%d.%m.%Y}_{stamp}.json"
    for i, e in enumerate(ed.events):
        e["_batch_index"] = i // 10
        e["_event_index"] = i
    doc = {
        "events": ed.events,
        "rejected": [],
        "metadata": {
            "processedAt": issued.isoformat() + "Z",
            "sourceKey": f"{ed.source.code}_{ed.number:05d}.pdf",
            "eventCount": len(ed.events),
        },
    }
    return GeneratedFile(name, doc, ed.truth)


def take(stream: Iterator[GeneratedFile], events: int) -> Iterator[GeneratedFile]:
    """Files from ``stream`` holding exactly ``events`` events (the last one cut short)."""
    left = events
    for f in stream:
        if left <= 0:
            return
        if len(f.events) > left:
            f.document["events"] = f.events[:left]
            f.document["metadata"]["eventCount"] = left
            f.truth = f.truth[:left]
        left -= len(f.events)
        yield f


def write_corpus(
    out: Path,
    events: int,
    *,
    seed: int = 1,
    file_events: int = 200,
    vocab_seed: int | None = None,
    hard_rate: float = 0.0,
) -> int:
    """Write ``events`` listings as files plus ``truth.jsonl`` into ``out``; returns files."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    stream = generate(seed, file_events=file_events, vocab_seed=vocab_seed, hard_rate=hard_rate)
    with (out / "truth.jsonl").open("w") as truth:
        for f in take(stream, events):
            (out / f.name).write_bytes(f.to_bytes())
            for i, k, g in f.truth:
                truth.write(json.dumps({"id": i, "key": k, "group": g}) + "\n")
            n += 1
    return n
