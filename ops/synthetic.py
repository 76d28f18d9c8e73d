"""Synthetic event listings at any size, with ground truth (for ``ops/bench.py``).

    uv run python ops/synthetic.py OUT_DIR --events 100000 [--seed 1] [--file-events 200]

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
on the same day.

Listings are streamed into files of ``--file-events`` events in the input
format (``<source>_<DD.MM.YYYY>_<timestamp>.json``); only one file per source
is held in memory.  ``truth.jsonl`` gets one ``{"id", "key", "group"}`` line
per listing: ids with the same ``key`` describe one real event; a ``group``
joins look-alike real events that are different.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


def make_region(rng: random.Random, n_towns: int = 260) -> list[Town]:
    names: set[str] = set()
    towns: list[Town] = []
    lat0, lat1, lon0, lon1 = REGION
    d: str | float  # a district's name, then a squared distance between towns
    while len(towns) < n_towns:
        base = (
            rng.choice(_TOWN_QUALIFIERS) + rng.choice(_TOWN_HEADS).lower() + rng.choice(_TOWN_TAILS)
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
            d = rng.choice(_TOWN_HEADS) + rng.choice(_TOWN_TAILS)
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
            d = (t.lat - u.lat) ** 2 + ((t.lon - u.lon) * 0.67) ** 2
            if d < best_d:
                best, best_d = j, d
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


def _pick_title(rng: random.Random, kind: Kind, town: Town, saint: str) -> tuple[str, str, str]:
    """(listing title, label, headline)."""
    place = town.short or town.name
    club = rng.choice(_CLUBS)
    person = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    name = kind.name
    if name == "konzert":
        ens = rng.choice(_ENSEMBLES).format(town=place)
        title = rng.choice(
            (
                f"Jahreskonzert des {club}s {place}",
                f"Konzert mit dem {ens}",
                f"{ens}: {rng.choice(_PROGRAMMES)}",
                f"Frühjahrskonzert {ens}",
            )
        )
        return title, "Konzert", f"{ens} spielt in {place}"
    if name == "kabarett":
        prog = rng.choice(_PROGRAMMES)
        return f"{person} – {prog}", "Kabarett", f"{person} gastiert mit „{prog}“ in {place}"
    if name == "vortrag":
        topic = rng.choice(_TOPICS)
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
        lm = rng.choice(_LANDMARKS)
        return f"Wanderung zum {lm}", "Wanderung", f"{club} wandert zum {lm}"
    if name == "ausstellung":
        theme = rng.choice(
            ("Farbräume", "Holz und Licht", "Landschaften", "Begegnungen", "Spuren", "Stillleben")
        )
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
        film = rng.choice(_FILMS)
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


def make_real_event(rng: random.Random, n: int, towns: list[Town], day: dt.date) -> RealEvent:
    kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    ti = rng.randrange(len(towns))
    town = towns[ti]
    district = rng.randrange(len(town.districts)) if town.districts and rng.random() < 0.3 else None
    saint = rng.choice(_SAINTS)
    title, label, headline = _pick_title(rng, kind, town, saint)
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


def make_sibling(rng: random.Random, n: int, towns: list[Town], ev: RealEvent) -> RealEvent:
    """A different event that looks alike: same venue and day, or same name next door."""
    if rng.random() < 0.5:
        # same venue, same day, another event (second club's ball, afternoon market, ...)
        other = make_real_event(rng, n, towns, ev.day)
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
                ev.title.rsplit(" der ", 1)[0] + f" der {rng.choice(_CLUBS)} {rng.choice(_LAST)}",
            )
    else:
        # same name, neighbouring town, same day
        ti = towns[ev.town].neighbour
        other = make_real_event(rng, n, towns, ev.day)
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


# --- listings -----------------------------------------------------------------------------------


def render(
    rng: random.Random, ev: RealEvent, src: Source, towns: list[Town], event_id: str
) -> dict[str, Any]:
    town = towns[ev.town]
    title = ev.title
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

    # venue spelling
    r = rng.random()
    venue: str | None = ev.venue_name
    if r < 0.35:
        venue = rng.choice(ev.venue_variants)
    elif r < 0.45:
        venue = None
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

    # dates and times
    dates = []
    for d in ev.dates:
        t = ev.time
        r = rng.random()
        if t is not None and r < 0.15:
            h, m = map(int, t.split(":"))
            m2 = h * 60 + m + rng.choice((-30, -15, 15, 19, 30))
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
) -> Iterator[GeneratedFile]:
    """Endless stream of files (take as many as needed); deterministic by ``seed``."""
    rng = random.Random(seed)
    towns = make_region(rng)
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
            ev = make_real_event(rng, n_real, towns, day)
            n_real += 1
            batch = [ev]
            if rng.random() < sibling_rate:
                batch.append(make_sibling(rng, n_real, towns, ev))
                n_real += 1
            for e in batch:
                k = rng.choices(counts, sources_per_event)[0]
                cands = by_town[e.town]
                chosen = rng.sample(cands, min(k, len(cands)))
                if rng.random() < 0.01:
                    chosen.append(chosen[0])  # printed twice in one edition
                for src in chosen:
                    ed = editions[src.code]
                    event_id = _event_id(src.code, ed.number, len(ed.events))
                    ed.events.append(render(rng, e, src, towns, event_id))
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


def write_corpus(out: Path, events: int, *, seed: int = 1, file_events: int = 200) -> int:
    """Write ``events`` listings as files plus ``truth.jsonl`` into ``out``; returns files."""
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with (out / "truth.jsonl").open("w") as truth:
        for f in take(generate(seed, file_events=file_events), events):
            (out / f.name).write_bytes(f.to_bytes())
            for i, k, g in f.truth:
                truth.write(json.dumps({"id": i, "key": k, "group": g}) + "\n")
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--file-events", type=int, default=200)
    args = ap.parse_args(argv)
    n = write_corpus(args.out, args.events, seed=args.seed, file_events=args.file_events)
    print(f"wrote {n} files, {args.events} events to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
