"""Name vocabularies for the synthetic corpus: the base lists or ones generated per seed.

A corpus generated with another *vocabulary seed* has other towns, people,
organisers, film and talk titles, programmes and landmarks (all made of
generated syllables), so the engine can be measured on names it was never
tuned on. Stable domain vocabulary (event types, venue kinds, party names,
carnival words) is the same in every vocabulary, as it is in real listings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Vocabulary:
    seed: int | None
    town_heads: tuple[str, ...]
    town_tails: tuple[str, ...]
    first: tuple[str, ...]
    last: tuple[str, ...]
    programmes: tuple[str, ...]
    topics: tuple[str, ...]
    films: tuple[str, ...]
    ensembles: tuple[str, ...]
    landmarks: tuple[str, ...]
    themes: tuple[str, ...]
    club_names: tuple[str, ...]  # organiser name parts: "Musikverein <name>"


_ONSETS = [
    "b",
    "br",
    "d",
    "dr",
    "f",
    "fl",
    "g",
    "gr",
    "h",
    "k",
    "kl",
    "kr",
    "l",
    "m",
    "n",
    "p",
    "pf",
    "r",
    "s",
    "sch",
    "schl",
    "st",
    "str",
    "t",
    "tr",
    "w",
    "z",
]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ä", "ö", "ü", "au", "ei", "ie", "eu"]
_CODAS = ("", "", "", "n", "r", "l", "m", "s", "ch", "ck", "t", "nd", "ng", "rt", "lz")
_TAIL_POOL = [
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
    "berg",
    "egg",
    "matt",
    "stadt",
    "furt",
    "beuren",
    "zell",
    "münster",
    "roth",
    "wil",
    "acker",
    "grund",
    "hütte",
    "mühle",
    "kofen",
    "ach",
    "lingen",
    "sheim",
    "ried",
    "moos",
    "reuth",
    "schwand",
    "wald",
]
_NOUN_ENDS = ("", "", "e", "er", "en", "ung", "heit", "ling", "chen", "el")
_ADJ_ENDS = ("ige", "liche", "ene", "ische", "e")
_LAST_ENDS = ("", "er", "mann", "le", "inger", "ner", "bauer", "lin")


class _Words:
    """Pseudo-German words from one seed's syllable inventory."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.onsets = rng.sample(_ONSETS, 16)
        self.vowels = rng.sample(_VOWELS, 11)
        self.codas = rng.sample(_CODAS, 10)
        self.seen: set[str] = set()

    def syllable(self) -> str:
        r = self.rng
        return r.choice(self.onsets) + r.choice(self.vowels) + r.choice(self.codas)

    def word(self, syllables: tuple[int, ...] = (2, 2, 3), end: tuple[str, ...] = ("",)) -> str:
        while True:
            w = "".join(self.syllable() for _ in range(self.rng.choice(syllables)))
            w = (w + self.rng.choice(end)).capitalize()
            if w not in self.seen and 4 <= len(w) <= 14:
                self.seen.add(w)
                return w

    def noun(self) -> str:
        return self.word((1, 2, 2), _NOUN_ENDS)

    def adjective(self) -> str:
        return self.word((1, 2), _ADJ_ENDS)

    def many(self, n: int, make: object) -> tuple[str, ...]:
        assert callable(make)
        return tuple(make() for _ in range(n))


def generated_vocabulary(seed: int) -> Vocabulary:
    rng = random.Random(f"vocabulary/{seed}")
    w = _Words(rng)

    def film() -> str:
        n, a, m = w.noun(), w.adjective(), w.noun()
        return rng.choice(
            (
                f"Der {n}",
                f"Die {a} {n}",
                f"{n} und {m}",
                f"Das {n} von {m}",
                f"{w.word((2,))} und der {n}",
                f"Im {n} der {m}",
            )
        )

    def topic() -> str:
        n, a, m = w.noun(), w.adjective(), w.noun()
        return rng.choice(
            (
                f"{a} {n} im {m}",
                f"Die Geschichte der {n}",
                f"{n} früher und heute",
                f"{n} und {m}",
                f"{a} {n}",
                f"Unterwegs im {n}",
            )
        )

    def programme() -> str:
        return rng.choice((f"{w.adjective()} {w.noun()}", w.noun(), f"{w.noun()} im {w.noun()}"))

    def ensemble() -> str:
        kind = rng.choice(
            ("Kammerchor", "Trio", "Quartett", "Ensemble", "Band", "Duo", "Vokalensemble")
        )
        return f"{kind} {w.noun()}" if rng.random() < 0.7 else f"{kind} {{town}}"

    def landmark() -> str:
        return w.noun() + rng.choice(("kopf", "turm", "blick", "felsen", "weiher", "höhe", ""))

    def theme() -> str:
        return rng.choice((w.noun(), f"{w.noun()} und {w.noun()}", f"{w.adjective()} {w.noun()}"))

    tails = tuple(rng.sample(_TAIL_POOL, 20))
    return Vocabulary(
        seed=seed,
        town_heads=w.many(50, lambda: w.word((1, 2))),
        town_tails=tails,
        first=w.many(28, lambda: w.word((2,), ("", "a", "o", "e"))),
        last=w.many(25, lambda: w.word((1, 2), _LAST_ENDS)),
        programmes=w.many(13, programme),
        topics=w.many(14, topic),
        films=w.many(12, film),
        ensembles=w.many(9, ensemble),
        landmarks=w.many(9, landmark),
        themes=w.many(8, theme),
        club_names=w.many(20, w.noun),
    )
