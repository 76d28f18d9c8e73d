"""Evidence beyond the four weighted signals: why two similar listings differ or agree.

* ``place_conflict`` – the same traditional event name in neighbouring towns
  (docs/domain.md §13): different towns after aliasing and no cross-mention, or points far apart.
* ``distinguishing_tokens`` – two listings whose titles are identical except for
  one dissimilar word each (two kindergartens' open days, SPD vs FDP talk,
  two clubs' balls): different events (§17 item 5).
* ``coverage`` – how much of one listing's title key words occur anywhere in the
  other listing (title, description, venue): the headline-vs-listing rescue.
"""

from __future__ import annotations

import functools
import re
from typing import Any, NamedTuple

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from eventdedup.matching.config import MatchingConfig, NormalizationConfig
from eventdedup.matching.normalize import (
    _LABEL,
    _LABEL_MARK,
    _memo,
    join_compounds,
    norm_text,
    register_cache,
    tokens,
)
from eventdedup.matching.record import EventRecord, _stopwords
from eventdedup.matching.signals import distance_km, venue_similarity


def _adjective_forms(word: str) -> tuple[str, ...]:
    base = word.split()[0] if word else word
    out = [base, base + "er"]
    if base.endswith("en"):
        out.append(base[:-2] + "er")
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def _padded_forms(word: str) -> tuple[str, ...]:
    """The word and its adjective forms, space-padded for whole-word look-ups in ``vocab``."""
    return tuple(f" {w} " for w in (word, *_adjective_forms(word)))


@functools.lru_cache(maxsize=8192)
def _mention_forms(word: str) -> tuple[str, tuple[str, ...]]:
    """(" " + the part every form begins with, ``_padded_forms(word)``): a text without
    that part holds none of the forms (one search instead of one per form)."""
    base = word.split()[0] if word else word
    stem = base[:-2] if base.endswith("en") else base
    return f" {stem}", _padded_forms(word)


_COMPUTE: Any = object()  # "distance not given": compute it


def place_conflict(
    a: EventRecord, b: EventRecord, cfg: MatchingConfig, dist: float | None = _COMPUTE
) -> str | None:
    """Reason text when the two listings are demonstrably in different places.

    ``dist`` is ``distance_km(a, b, cfg.geo)`` when the caller already has it.
    """
    if dist is _COMPUTE:
        dist = distance_km(a, b, cfg.geo)
    far = cfg.guards.different_town_km
    ka, kb = a.city_keys, b.city_keys
    if (
        ka
        and kb
        and ka[0] not in kb
        and (len(ka) == 1 or not any(k in kb for k in ka[1:]))
        and (dist is None or dist > 1.5)
        and not _cross_mention(a, b, ka, kb)
    ):
        return f"different towns: {ka[0]} vs {kb[0]}"
    if dist is not None and dist > far:
        venue = (
            fuzz.token_set_ratio(a.venue_norm, b.venue_norm) if a.venue_norm and b.venue_norm else 0
        )
        if venue < 90:
            return f"far apart: {dist:.1f} km"
    return None


def _cross_mention(
    a: EventRecord, b: EventRecord, ka: tuple[str, ...], kb: tuple[str, ...]
) -> bool:
    """One listing names the other's town (``_mentions``)."""
    for rec, keys in ((b, ka), (a, kb)):
        hay = rec.vocab
        for k in keys:
            stem, forms = _mention_forms(k)
            if stem in hay:
                for w in forms:
                    if w in hay:
                        return True
    return False


def mentioned_place_conflict(a: EventRecord, b: EventRecord) -> str | None:
    """Both listings name their place explicitly, and one names a place the other lacks.

    "Fasnet-Verbrennung Windenreute" vs "Tränenreicher Abschied in Emmendingen":
    both are filed under Emmendingen, but each names a different place — the
    same traditional event in two places (§13). A listing that names no place
    at all is not evidence either way.
    """
    if not a.mentioned_places and not b.mentioned_places:
        return None
    for x, y in ((a, b), (b, a)):
        if not y.city_keys or not y.mentioned_places:
            continue
        vocab, own = y.vocab, y.place_words
        for p in x.mentioned_places:
            stem, forms = _mention_forms(p)
            if stem in vocab and any(w in vocab for w in forms):
                continue
            if p in own or any(w in own for w in _adjective_forms(p)):
                continue
            return f"place '{p}' named only by one listing"
    return None


def _similar_word(x: str, y: str) -> bool:
    """Same word up to OCR noise: one edit (≥ 4 letters) or two (≥ 8 letters)."""
    if x == y:
        return True
    n = min(len(x), len(y))
    if n < 4:
        return False
    d = OSA.distance(x, y)
    return d <= 1 or (n >= 8 and d <= 2)


def _unmatched(xs: tuple[str, ...], ys: tuple[str, ...], limit: int = 0) -> list[str]:
    """The words of ``xs`` that ``ys`` lacks (up to OCR noise and compound splits);
    with ``limit``, the first ``limit`` of them (enough to tell "more than one")."""
    joined = "".join(ys)
    out = []
    for x in xs:
        if x in ys or _similar_in(x, ys):
            continue
        if len(x) >= 4 and x in joined:  # compound split differently ("orgel konzert")
            continue
        out.append(x)
        if len(out) == limit:
            break
    return out


def _slot(word: str, seq: list[str]) -> tuple[int, int, str] | None:
    """(index from start, index from end, preceding word) of ``word`` in ``seq``."""
    if word not in seq:
        return None
    i = seq.index(word)
    return i, len(seq) - 1 - i, seq[i - 1] if i else ""


def distinguishing_tokens(a: EventRecord, b: EventRecord) -> tuple[str, str] | None:
    """(word_a, word_b) when the titles differ by one dissimilar word in the same slot.

    "Kindergarten St. Jakobus" / "Kindergarten St. Josef", "SPD-Gespräch" /
    "FDP-Gespräch": one word each side, at the same position (from the start or
    the end) after the same preceding word — "same template, different name".
    An extra label on one side and an extra detail on the other ("Theater: X" /
    "X - ein Lustspiel") is not a substitution.
    """
    ta, tb = a.title_tokens, b.title_tokens
    if len(ta) < 2 or len(tb) < 2:
        return None
    # a word the other title has verbatim is never unmatched: cheap exit
    ka, kb = set(ta), set(tb)
    if ka <= kb or kb <= ka:
        return None
    ua = _unmatched(ta, tb, 2)
    if len(ua) != 1:
        return None
    ub = _unmatched(tb, ta, 2)
    if len(ub) != 1:
        return None
    sa = _slot(ua[0], list(tokens(a.title_norm)))
    sb = _slot(ub[0], list(tokens(b.title_norm)))
    if sa is None or sb is None:
        return None
    same_slot = (sa[0] == sb[0] or sa[1] == sb[1]) and (sa[2] == sb[2] or sa[1] == sb[1] == 0)
    if not same_slot:
        return None
    # a word the other listing names elsewhere (its venue, its texts) substitutes no
    # name: "<party> am Markt" at the "Marktplatz", the programme a headline's text names
    if ua[0] in b.hay_joined or ub[0] in a.hay_joined:
        return None
    return ua[0], ub[0]


def coverage(a: EventRecord, b: EventRecord) -> float:
    """Share (by length) of a's title key words found in b's title, venue or texts."""
    words = [t for t in a.title_tokens if len(t) >= 3]
    if not words:
        return 0.0
    hay_joined = b.hay_joined
    hay_tokens = b.hay_tokens
    total = found = 0
    for w in words:
        total += len(w)
        if (
            w in hay_joined
            or _similar_in(w, hay_tokens)
            or (len(w) >= 6 and fuzz.partial_ratio(w, hay_joined) >= 90)
        ):
            found += len(w)
    return found / total if total else 0.0


def _similar_in(word: str, candidates: tuple[str, ...]) -> bool:
    """any(_similar_word(word, c) for c in candidates), with the edit distances in C."""
    if word in candidates:
        return True
    lw = len(word)
    if lw < 4:
        return False
    if len(candidates) <= 16:
        # a handful of title words: a plain loop beats setting up extract_iter;
        # OSA distance ≥ the length difference, so only lengths within 2 can pass
        for c in candidates:
            lc = len(c)
            if lc < 4 or lc - lw > 2 or lw - lc > 2:
                continue
            d = OSA.distance(word, c, score_cutoff=2)
            if d <= 1 or (d <= 2 and min(lw, lc) >= 8):
                return True
        return False
    for c, d, _ in process.extract_iter(word, candidates, scorer=OSA.distance, score_cutoff=2):
        if d <= 1 and min(lw, len(c)) >= 4:
            return True
        if min(lw, len(c)) >= 8:
            return True
    return False


def _found(word: str, rec: EventRecord) -> bool:
    """``word`` occurs in the listing (title, venue, texts, street), up to OCR noise."""
    return word in rec.hay_joined or _similar_in(word, rec.hay_tokens)


def _label_and_name(r: EventRecord, cfg: MatchingConfig) -> tuple[str, tuple[str, ...]] | None:
    """(normalised label, key words of the rest) of "<label>: <name>" / "<label> - <name>".

    The label is a short lead (at most ``generic_prefix_max_words`` words), as in
    ``prefix_variants``; own place words and stop words are not key words.
    """
    n = cfg.normalization
    if not n.generic_prefix_max_words:
        return None
    if not _LABEL_MARK.search(r.title):  # no ":" or spaced dash: no label (hot path)
        return None
    memo = _memo(n)
    key = ("label", r.title)
    split = memo.get(key)
    if split is None:
        m = _LABEL.match(" ".join(r.title.split()))
        split = memo[key] = (
            (join_compounds(norm_text(m.group(1), n)), tokens(norm_text(m.group(2), n)))
            if m and len(m.group(1).split()) <= n.generic_prefix_max_words
            else ()
        )
    if not split:
        return None
    label: str
    rest: tuple[str, ...]
    label, rest = split  # type: ignore[misc]  # a memo value (see normalize._ConfigState)
    stop, own = _stopwords(n), r.place_words
    words = tuple(t for t in rest if len(t) >= 3 and t not in stop and t not in own)
    return (label, words) if label and words else None


#: labels of one kind end in the same word part ("Diavortrag" / "Bildervortrag": "vortrag")
LABEL_HEAD_MIN = 4


def same_label_kind(x: str, y: str) -> bool:
    """One label, or two of one kind: the same last word part of at least 4 letters."""
    if x == y:
        return True
    n = 0
    for cx, cy in zip(reversed(x), reversed(y), strict=False):
        if cx != cy:
            break
        n += 1
    return n >= LABEL_HEAD_MIN and " " not in x[-n:]


def label_name_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Same label, different names: "Kommunales Kino - Perfect Days" / "... - Wuthering Heights".

    Both titles lead with the same short label and no key word of either name
    occurs anywhere in the other listing: the label names the series or venue,
    the rest names the event, and the events differ. (A listing that drops the
    label, or renames the event partly, keeps a shared word and is not affected.)
    """
    la = title_parts(a, cfg).label
    if la is None:
        return None
    lb = title_parts(b, cfg).label
    if lb is None:
        return None
    return labels_differ(a, b, la, lb)


def labels_differ(
    a: EventRecord,
    b: EventRecord,
    la: tuple[str, tuple[str, ...]],
    lb: tuple[str, tuple[str, ...]],
) -> str | None:
    """``label_name_conflict`` for two listings that both have a label and a name."""
    if not same_label_kind(la[0], lb[0]):
        return None
    if any(_found(w, b) for w in la[1]) or any(_found(w, a) for w in lb[1]):
        return None
    return f"different names after '{la[0]}': '{' '.join(la[1])}' vs '{' '.join(lb[1])}'"


# "mit Monika Burger", "von Dr. Martin Hug": a preposition, then 2-3 capitalised words
_NAME_WORD = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
_PERSON = re.compile(
    rf"\b(?:mit|von)\s+(?:(?:Dr|Prof)\.?\s+)?({_NAME_WORD}(?:\s+{_NAME_WORD}){{1,2}})"
    # "Vorname Name zu Gast im ...", "... gastiert / liest / spricht"
    rf"|^(?:(?:Dr|Prof)\.?\s+)?({_NAME_WORD}\s+{_NAME_WORD})\s+(?:zu\s+Gast|gastiert|liest|spricht)\b"
)


#: a literal every match of ``_PERSON`` contains (case-sensitive, as the pattern)
_PERSON_CUES = ("mit", "von", "Gast", "gastiert", "liest", "spricht")


def _person_words(r: EventRecord, cfg: MatchingConfig) -> tuple[str, ...]:
    title = r.title
    if not any(c in title for c in _PERSON_CUES):  # most titles name no one (hot path)
        return ()
    n = cfg.normalization
    memo = _memo(n)
    key = ("person", r.title)
    words = memo.get(key)
    if words is None:
        found = [
            t
            for m in _PERSON.finditer(r.title)
            for t in tokens(norm_text(m.group(1) or m.group(2), n))
        ]
        words = memo[key] = tuple(dict.fromkeys(t for t in found if len(t) >= 3))
    return words  # type: ignore[return-value]


def person_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Different speakers: both titles name a person and neither listing mentions the other's.

    Talks on one topic by different people ("Wärmepumpe im Bestand mit Monika
    Burger" / "... von Martin Hug") are different events; a source that names
    the speaker only in its description, or by surname only, still shares a word.
    """
    pa = title_parts(a, cfg).persons
    if not pa:
        return None
    pb = title_parts(b, cfg).persons
    if not pb:
        return None
    return persons_differ(a, b, pa, pb)


def persons_differ(
    a: EventRecord, b: EventRecord, pa: tuple[str, ...], pb: tuple[str, ...]
) -> str | None:
    """``person_conflict`` for two titles that both name a person."""
    if any(f" {w} " in b.vocab for w in pa) or any(f" {w} " in a.vocab for w in pb):
        return None
    return f"different speakers: '{' '.join(pa)}' vs '{' '.join(pb)}'"


# "der Narrenzunft Klönhüsen", "des Kammerchors Sonnenberg": der/des, a capitalised
# organiser kind, then its name (one or two capitalised words)
_ORGANISER = re.compile(
    rf"\b(?:der|des)\s+{_NAME_WORD}\s+({_NAME_WORD}(?:\s+{_NAME_WORD})?)(?:\s|$|[,.;:!)])"
)


def _organiser_words(r: EventRecord, cfg: MatchingConfig) -> tuple[str, ...]:
    """Key words of the organiser's name in the title, without the listing's own place."""
    title = r.title
    if " de" not in title:  # no "der"/"des": most titles (hot path)
        return ()
    n = cfg.normalization
    memo = _memo(n)
    key = ("organiser", title)
    words = memo.get(key)
    if words is None:
        found = [t for m in _ORGANISER.finditer(title) for t in tokens(norm_text(m.group(1), n))]
        words = memo[key] = tuple(dict.fromkeys(t for t in found if len(t) >= 3))
    if not words:
        return ()
    own = r.place_words
    return tuple(w for w in words if w not in own)  # type: ignore[attr-defined]


def organiser_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Different organisers: both titles name one and neither listing mentions the other's.

    Two guilds' balls in one hall ("Zunftball der Narrenzunft X" / "... der
    Narrengilde Y") are different events. A listing that names the town instead
    of the club ("Blutspende <town>" / "Blutspende des DRK-Ortsvereins <town>")
    names no organiser of its own and is left to the other signals.
    """
    oa = title_parts(a, cfg).organisers
    if not oa:
        return None
    ob = title_parts(b, cfg).organisers
    if not ob:
        return None
    return organisers_differ(a, b, oa, ob)


def organisers_differ(
    a: EventRecord, b: EventRecord, oa: tuple[str, ...], ob: tuple[str, ...]
) -> str | None:
    """``organiser_conflict`` for two titles that both name an organiser."""
    if any(_found(w, b) for w in oa) or any(_found(w, a) for w in ob):
        return None
    return f"different organisers: '{' '.join(oa)}' vs '{' '.join(ob)}'"


def street_conflict(a: EventRecord, b: EventRecord) -> str | None:
    """Both give a street and the streets differ (not just spelling)."""
    sa, sb = a.street_norm, b.street_norm
    if not sa or not sb or sa == sb:
        return None
    key = (sa, sb)
    same = _SAME_STREET.get(key)
    if same is None:  # street names repeat across many pairs
        same = fuzz.ratio(sa, sb) >= 85 or fuzz.partial_ratio(sa, sb) >= 95
        if len(_SAME_STREET) > 100_000:
            _SAME_STREET.clear()
        _SAME_STREET[key] = same
    return None if same else f"different streets: '{sa}' vs '{sb}'"


_SAME_STREET: dict[tuple[str, str], bool] = {}
register_cache(_SAME_STREET.clear)
register_cache(_padded_forms.cache_clear)
register_cache(_mention_forms.cache_clear)


def venue_agreement(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> bool:
    """Positive evidence of the same venue: same street, similar name or same point."""
    if a.street_norm and b.street_norm and street_conflict(a, b) is None:
        return True
    return bool(
        a.venue_norm and b.venue_norm and venue_similarity(a.venue_norm, b.venue_norm) >= 0.8
    )


def venue_name_tokens(r: EventRecord, cfg: MatchingConfig) -> list[str]:
    """Proper-name words of the venue: not a venue type, not a place, not a stop word.

    "Kath. Kindergarten Kunterbunt" -> ["kunterbunt"]; "Sporthalle" -> [];
    "Gasthaus Zum Adler" -> ["adler"]. Venue-type words are recognised by their
    compound head ("Mehrzweck*halle*", "Pfarr*saal*"), so unseen venues of a
    known type need no list entry.
    """
    return list(r.venue_names)


def address_only(r: EventRecord) -> bool:
    """The venue given is the listing's own street address ("Lindenweg 12")."""
    v, st = r.venue_norm, r.street_norm
    return bool(v and st and v.startswith(st))


def venue_conflict(
    a: EventRecord, b: EventRecord, cfg: MatchingConfig, dist: float | None = _COMPUTE
) -> str | None:
    """Both venues carry a proper name and the names share nothing."""
    va, sa, vb, sb = a.venue_norm, a.street_norm, b.venue_norm, b.street_norm
    if (va and sa and va.startswith(sa)) or (vb and sb and vb.startswith(sb)):
        return None  # a street address names no venue to differ from (``address_only``)
    na, nb = a.venue_names, b.venue_names
    if not na or not nb:
        return _far_venues(a, b, cfg, dist)
    if any(_similar_word(x, y) or x in y or y in x for x in na for y in nb):
        return None
    return f"different venues: '{a.location_name}' vs '{b.location_name}'"


def place_agreement(
    a: EventRecord, b: EventRecord, cfg: MatchingConfig, dist: float | None = _COMPUTE
) -> bool:
    """Same venue by name or street, or trusted points at most ~300 m apart.

    Identical coordinates alone do not count: a town-centre fallback geocode
    puts every listing of the town on the same point.
    """
    if venue_agreement(a, b, cfg):
        return True
    g = cfg.geo
    for c in (a.geo_confidence, b.geo_confidence):
        if c is None or c < g.min_confidence:
            return False
    if dist is _COMPUTE:
        dist = distance_km(a, b, g)
    return dist is not None and 0.0 < dist <= cfg.guards.same_place_km


def _far_venues(
    a: EventRecord, b: EventRecord, cfg: MatchingConfig, dist: float | None = _COMPUTE
) -> str | None:
    """Dissimilar venue names at trusted points too far apart for geocoder jitter.

    "Kindergarten St. Margaretha" and "Sporthalle" 1.6 km apart in one town are
    two venues; the geo signal alone still gives 0.84 for that distance.
    """
    limit = cfg.guards.different_venue_km
    if limit <= 0 or not a.venue_norm or not b.venue_norm:
        return None
    g = cfg.geo
    for c in (a.geo_confidence, b.geo_confidence):
        if c is None or c < g.min_confidence:
            return None
    if dist is _COMPUTE:
        dist = distance_km(a, b, g)
    if dist is None or dist < limit:
        return None
    if venue_similarity(a.venue_norm, b.venue_norm) >= g.venue_similarity_cut:
        return None
    return f"different venues: '{a.location_name}' vs '{b.location_name}' {dist:.1f} km apart"


_NO_PARTIES: frozenset[str] = frozenset()


def _parties(title_norm: str, cfg: MatchingConfig) -> frozenset[str]:
    """The configured party names a (normalised) title mentions, as whole words."""
    parties, n = cfg.structural.parties, cfg.normalization
    finder = _PARTY_FINDER[0]
    if finder is None or finder[0] is not parties or finder[1] is not n:
        names = sorted({norm_text(p, n) for p in parties} - {""}, key=len)
        alternatives = "|".join(re.escape(x) for x in reversed(names))
        pattern = re.compile(rf"(?<![a-z0-9])({alternatives})(?![a-z0-9])")
        finder = _PARTY_FINDER[0] = (parties, n, pattern, tuple(names))
    # a match needs a name verbatim: substring tests first, far cheaper than the
    # pattern (most titles name no party)
    for name in finder[3]:
        if name in title_norm:
            break
    else:
        return _NO_PARTIES
    # "die linke" and "linke" name one party
    found = finder[2].findall(title_norm)
    # one shared empty set for the titles without a party (fewer objects for the GC)
    return frozenset(x.removeprefix("die ") for x in found) if found else _NO_PARTIES


#: (parties, normalisation config, pattern, names) of the last config ``_parties`` saw
_PARTY_FINDER: list[
    tuple[tuple[str, ...], NormalizationConfig, re.Pattern[str], tuple[str, ...]] | None
] = [None]


def party_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Both titles name a party and no party of one is named in the other title."""
    pa = title_parts(a, cfg).parties
    if not pa:
        return None
    pb = title_parts(b, cfg).parties
    if not pb:
        return None
    return parties_differ(pa, pb)


def parties_differ(pa: frozenset[str], pb: frozenset[str]) -> str | None:
    """``party_conflict`` for two titles that both name a party."""
    if pa & pb:
        return None
    return f"different parties: '{' '.join(sorted(pa))}' vs '{' '.join(sorted(pb))}'"


class TitleParts(NamedTuple):
    """What the word guards read off one listing's title under ``cfg``: a label and the
    name after it, named people, organisers and parties (computed once per record)."""

    cfg: MatchingConfig
    label: tuple[str, tuple[str, ...]] | None
    persons: tuple[str, ...]
    organisers: tuple[str, ...]
    parties: frozenset[str]


def title_parts(r: EventRecord, cfg: MatchingConfig) -> TitleParts:
    """The record's ``TitleParts`` under ``cfg``, computed at first use and kept on it."""
    hit = r.title_parts_memo
    if isinstance(hit, TitleParts) and hit.cfg is cfg:
        return hit
    label = _label_and_name(r, cfg)
    persons = _person_words(r, cfg)
    organisers = _organiser_words(r, cfg)
    parties = _parties(r.title_norm, cfg)
    if label is None and not persons and not organisers and not parties:
        # most titles: one shared object per config (fewer objects for the cyclic GC)
        empty = _NO_PARTS[0]
        if empty is None or empty.cfg is not cfg:
            empty = _NO_PARTS[0] = TitleParts(cfg, None, (), (), _NO_PARTIES)
        parts = empty
    else:
        parts = TitleParts(cfg, label, persons, organisers, parties)
    object.__setattr__(r, "title_parts_memo", parts)
    return parts


_NO_PARTS: list[TitleParts | None] = [None]
