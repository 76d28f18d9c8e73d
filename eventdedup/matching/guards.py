"""Evidence beyond the four weighted signals: why two similar listings differ or agree.

* ``place_conflict`` – the same traditional event name in neighbouring towns
  (§13): different towns after aliasing and no cross-mention, or points far apart.
* ``distinguishing_tokens`` – two listings whose titles are identical except for
  one dissimilar word each (two kindergartens' open days, SPD vs FDP talk,
  two clubs' balls): different events (§17 item 5).
* ``coverage`` – how much of one listing's title key words occur anywhere in the
  other listing (title, description, venue): the headline-vs-listing rescue.
"""

from __future__ import annotations

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from eventdedup.matching.config import MatchingConfig
from eventdedup.matching.normalize import tokens
from eventdedup.matching.record import EventRecord
from eventdedup.matching.signals import distance_km, venue_similarity


def _mentions(rec: EventRecord, word: str) -> bool:
    """Does ``word`` (a normalised place key) occur in the listing's texts?"""
    hay = rec.vocab
    return f" {word} " in hay or any(f" {w} " in hay for w in _adjective_forms(word))


def _adjective_forms(word: str) -> tuple[str, ...]:
    base = word.split()[0] if word else word
    out = [base, base + "er"]
    if base.endswith("en"):
        out.append(base[:-2] + "er")
    return tuple(out)


def place_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Reason text when the two listings are demonstrably in different places."""
    dist = distance_km(a, b, cfg.geo)
    far = cfg.guards.different_town_km
    if a.city_keys and b.city_keys and not set(a.city_keys) & set(b.city_keys):
        cross = any(_mentions(b, k) for k in a.city_keys) or any(
            _mentions(a, k) for k in b.city_keys
        )
        if not cross and (dist is None or dist > 1.5):
            return f"different towns: {a.city_keys[0]} vs {b.city_keys[0]}"
    if dist is not None and dist > far:
        venue = (
            fuzz.token_set_ratio(a.venue_norm, b.venue_norm) if a.venue_norm and b.venue_norm else 0
        )
        if venue < 90:
            return f"far apart: {dist:.1f} km"
    return None


def mentioned_place_conflict(a: EventRecord, b: EventRecord) -> str | None:
    """Both listings name their place explicitly, and one names a place the other lacks.

    "Fasnet-Verbrennung Windenreute" vs "Tränenreicher Abschied in Emmendingen":
    both are filed under Emmendingen, but each names a different place — the
    same traditional event in two places (§13). A listing that names no place
    at all is not evidence either way.
    """
    for x, y in ((a, b), (b, a)):
        if not y.city_keys or not y.mentioned_places:
            continue
        vocab, own = y.vocab, y.place_words
        for p in x.mentioned_places:
            if any(f" {w} " in vocab or w in own for w in (p, *_adjective_forms(p))):
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


def _unmatched(xs: tuple[str, ...], ys: tuple[str, ...]) -> list[str]:
    joined = "".join(ys)
    out = []
    for x in xs:
        if _similar_in(x, ys):
            continue
        if len(x) >= 4 and x in joined:  # compound split differently ("orgel konzert")
            continue
        out.append(x)
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
    ua = _unmatched(ta, tb)
    ub = _unmatched(tb, ta)
    if len(ua) != 1 or len(ub) != 1:
        return None
    sa = _slot(ua[0], list(tokens(a.title_norm)))
    sb = _slot(ub[0], list(tokens(b.title_norm)))
    if sa is None or sb is None:
        return None
    same_slot = (sa[0] == sb[0] or sa[1] == sb[1]) and (sa[2] == sb[2] or sa[1] == sb[1] == 0)
    return (ua[0], ub[0]) if same_slot else None


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
    if len(word) < 4:
        return word in candidates
    for c, d, _ in process.extract_iter(word, candidates, scorer=OSA.distance, score_cutoff=2):
        if d <= 1 and min(len(word), len(c)) >= 4:
            return True
        if min(len(word), len(c)) >= 8:
            return True
    return False


def street_conflict(a: EventRecord, b: EventRecord) -> str | None:
    """Both give a street and the streets differ (not just spelling)."""
    if not a.street_norm or not b.street_norm:
        return None
    if fuzz.ratio(a.street_norm, b.street_norm) >= 85:
        return None
    if fuzz.partial_ratio(a.street_norm, b.street_norm) >= 95:
        return None
    return f"different streets: '{a.street_norm}' vs '{b.street_norm}'"


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


def venue_conflict(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
    """Both venues carry a proper name and the names share nothing."""
    na, nb = a.venue_names, b.venue_names
    if not na or not nb:
        return _far_venues(a, b, cfg)
    if any(_similar_word(x, y) or x in y or y in x for x in na for y in nb):
        return None
    return f"different venues: '{a.location_name}' vs '{b.location_name}'"


def place_agreement(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> bool:
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
    dist = distance_km(a, b, g)
    return dist is not None and 0.0 < dist <= cfg.guards.same_place_km


def _far_venues(a: EventRecord, b: EventRecord, cfg: MatchingConfig) -> str | None:
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
    dist = distance_km(a, b, g)
    if dist is None or dist < limit:
        return None
    if venue_similarity(a.venue_norm, b.venue_norm) >= g.venue_similarity_cut:
        return None
    return f"different venues: '{a.location_name}' vs '{b.location_name}' {dist:.1f} km apart"
