"""EventRecord: one source listing plus every normalised form, computed once at ingestion.

The record is what the DB stores (json) and what scoring and synthesis read,
so it carries the raw display fields *and* the normalised forms. Scorers only
ever look at the normalised forms (docs/domain.md §17 item 2).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from typing import Any

import attrs
from rapidfuzz import process
from rapidfuzz.distance import OSA

from eventdedup.matching.config import MatchingConfig, NormalizationConfig
from eventdedup.matching.normalize import (
    _memo,
    city_keys,
    district_words,
    fold,
    join_compounds,
    norm_text,
    place_words,
    prefix_variants,
    register_cache,
    tokens,
)
from eventdedup.model import EventDate, SourceEvent
from eventdedup.pickling import fast_pickle


def _time_str(t: dt.time | None) -> str | None:
    return t.strftime("%H:%M:%S") if t is not None else None


def _parse_time(s: str | None) -> dt.time | None:
    return dt.time.fromisoformat(s) if s else None


def _parse_date(s: str | None) -> dt.date | None:
    return dt.date.fromisoformat(s) if s else None


def expand_days(dates: tuple[EventDate, ...], max_range_days: int) -> tuple[str, ...]:
    """All calendar days an event covers, sorted ISO strings (§17 item 3).

    A ``date``→``end_date`` range is expanded day by day; ranges longer than
    ``max_range_days`` contribute their first ``max_range_days`` days and their
    last day (a season-long exhibition must not emit hundreds of keys).
    """
    days: set[str] = set()
    for d in dates:
        days.add(d.date.isoformat())
        if d.end_date is not None and d.end_date > d.date:
            span = (d.end_date - d.date).days
            for i in range(1, min(span, max_range_days - 1) + 1):
                days.add((d.date + dt.timedelta(days=i)).isoformat())
            days.add(d.end_date.isoformat())
    return tuple(sorted(days))


def day_times(dates: tuple[EventDate, ...], max_range_days: int) -> tuple[tuple[str, int], ...]:
    """(day, start minute) pairs for every day with a known start time."""
    out: set[tuple[str, int]] = set()
    for d in dates:
        if d.start_time is None:
            continue
        minute = d.start_time.hour * 60 + d.start_time.minute
        for day in expand_days((EventDate(d.date, None, None, d.end_date),), max_range_days):
            out.add((day, minute))
    return tuple(sorted(out))


def _days_and_times(
    dates: tuple[EventDate, ...], max_range_days: int
) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    """``(expand_days(dates), day_times(dates))`` in one pass."""
    days: set[str] = set()
    times: set[tuple[str, int]] = set()
    for d in dates:
        if d.end_date is not None and d.end_date > d.date:
            covered: tuple[str, ...] = expand_days((d,), max_range_days)
        else:
            covered = (d.date.isoformat(),)
        days.update(covered)
        if d.start_time is not None:
            minute = d.start_time.hour * 60 + d.start_time.minute
            times.update((day, minute) for day in covered)
    return tuple(sorted(days)), tuple(sorted(times))


_MONTHS = {
    "jan": 1,
    "januar": 1,
    "jaenner": 1,
    "feb": 2,
    "februar": 2,
    "maerz": 3,
    "mrz": 3,
    "apr": 4,
    "april": 4,
    "mai": 5,
    "jun": 6,
    "juni": 6,
    "jul": 7,
    "juli": 7,
    "aug": 8,
    "august": 8,
    "sep": 9,
    "sept": 9,
    "september": 9,
    "okt": 10,
    "oktober": 10,
    "nov": 11,
    "november": 11,
    "dez": 12,
    "dezember": 12,
}
# "ist bis zum 8. März zu sehen", "läuft noch bis 08.03.", "geöffnet bis 8. März 2026"
_UNTIL = re.compile(
    r"\bbis\s+(?:zum\s+|einschliesslich\s+|einschl\s+)?(\d{1,2})\s*\.?\s*"
    r"(?:(\d{1,2})\s*\.|([a-z]{3,9})\b)"
)
# the sentence must say the event *runs* until then (not "Anmeldung bis ...")
_RUNS = re.compile(
    r"\b(?:zu sehen|geoeffnet|ausstellung|schau|laeuft|dauert|besichtig|zu besuchen)"
)
# sentence ends, but not the period of a date ("8. März")
_SENTENCE = re.compile(r"(?<=[^\d][.!?])\s+")


def implicit_end(start: dt.date, text: str | None, max_days: int) -> dt.date | None:
    """End date a listing gives only in prose ("Die Ausstellung ist bis zum 8. März zu sehen").

    Exhibitions are often listed on a single day by one source and as a range by
    another; the prose end date makes both cover the same days. Only sentences
    that say the event runs/is on view until then count; the end must lie after
    ``start`` and at most ``max_days`` later (year inferred from ``start``).
    """
    if not text:
        return None
    key = (start, text, max_days)
    if key in _IMPLICIT_END:  # the same press text comes from several sources
        return _IMPLICIT_END[key]
    if len(_IMPLICIT_END) > 5_000:  # keys hold whole press texts: a few MB at most
        _IMPLICIT_END.clear()
    end = _IMPLICIT_END[key] = _implicit_end(start, text, max_days)
    return end


_IMPLICIT_END: dict[tuple[dt.date, str, int], dt.date | None] = {}
register_cache(_IMPLICIT_END.clear)


def _implicit_end(start: dt.date, text: str, max_days: int) -> dt.date | None:
    folded = fold(text, ocr_fixes=False)
    for sentence in _SENTENCE.split(folded):
        if "bis" not in sentence or not _RUNS.search(sentence):
            continue
        for m in _UNTIL.finditer(sentence):
            day = int(m.group(1))
            month = int(m.group(2)) if m.group(2) else _MONTHS.get(m.group(3) or "", 0)
            if not 1 <= month <= 12:
                continue
            for year in (start.year, start.year + 1):
                try:
                    end = dt.date(year, month, day)
                except ValueError:
                    break
                if start < end <= start + dt.timedelta(days=max_days):
                    return end
    return None


def covered_dates(
    dates: tuple[EventDate, ...], text: str | None, max_days: int
) -> tuple[EventDate, ...]:
    """The dates with prose end dates filled in (for day coverage only, not display)."""
    out = []
    for d in dates:
        if d.end_date is None:
            end = implicit_end(d.date, text, max_days)
            if end is not None:
                d = EventDate(d.date, d.start_time, d.end_time, end)
        out.append(d)
    return tuple(out)


@fast_pickle(reset=("title_parts_memo",))  # the memo names its config by identity
@attrs.frozen
class EventRecord:
    """Raw display fields + normalised forms of one source event."""

    id: str
    source_code: str
    source_type: str
    title: str
    short_description: str | None = None
    description: str | None = None
    highlights: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    dates: tuple[EventDate, ...] = ()
    location_name: str | None = None
    city: str | None = None
    printed_city: str | None = None
    district: str | None = None
    street: str | None = None
    street_no: str | None = None
    zipcode: str | None = None
    geo_latitude: float | None = None
    geo_longitude: float | None = None
    geo_confidence: float | None = None
    is_family_event: bool | None = None
    is_child_focused: bool | None = None
    admission_free: bool | None = None
    registration_required: bool | None = None
    registration_contact: str | None = None
    confidence_score: float | None = None
    # --- normalised forms -------------------------------------------------
    title_norm: str = ""
    # normalised title variants (prefix stripped / own place words removed),
    # compounds joined; title similarity takes the best pair
    title_forms: tuple[str, ...] = ()
    # key words of the title: no stop words, no own-place words, hyphens split
    title_tokens: tuple[str, ...] = ()
    # description (or short description) normalised; all text for coverage checks
    description_norm: str = ""
    short_description_norm: str = ""
    text_norm: str = ""
    venue_norm: str = ""
    street_norm: str = ""
    city_keys: tuple[str, ...] = ()
    place_words: tuple[str, ...] = ()
    # own town/district names (incl. adjective forms) named in title or venue
    mentioned_places: tuple[str, ...] = ()
    days: tuple[str, ...] = ()
    day_times: tuple[tuple[str, int], ...] = ()
    categories_norm: tuple[str, ...] = ()
    # --- precomputed scoring features (pure functions of the fields above) -----
    # title_forms / description texts with tokens sorted: token_sort_ratio(x, y)
    # == ratio(sorted(x), sorted(y)), so the sort is done once per record
    title_sorted: tuple[str, ...] = ()
    texts_sorted: tuple[str, ...] = ()
    # proper-name words of the venue ("kunterbunt"), and all its content words
    venue_names: tuple[str, ...] = ()
    venue_words: tuple[str, ...] = ()
    # every token of title, venue, texts and street (for coverage / cross-mentions)
    hay_tokens: tuple[str, ...] = ()
    hay_joined: str = ""
    # " title venue text street " (hyphens split), for whole-word look-ups
    vocab: str = ""
    # distinctive words of the whole listing (title + texts), no venue/place/stop words
    content_words: tuple[str, ...] = ()
    # --- derived in memory from the fields above (not stored, not compared) ----
    # day -> start minutes of that day (only days with a start time)
    day_minutes: dict[str, tuple[int, ...]] = attrs.field(
        init=False, eq=False, repr=False, factory=dict
    )
    # the word guards' reading of the title under one config (``guards.title_parts``),
    # kept at first use: one object per record (fewer objects for the cyclic GC to walk)
    title_parts_memo: object = attrs.field(init=False, eq=False, repr=False, default=None)
    # radians and cosine of the latitude (0.0 without a point), for the distance per pair
    lat_radians: float = attrs.field(init=False, eq=False, repr=False, default=0.0)
    lat_cos: float = attrs.field(init=False, eq=False, repr=False, default=0.0)

    def __attrs_post_init__(self) -> None:
        minutes: dict[str, list[int]] = {}
        for day, m in self.day_times:
            minutes.setdefault(day, []).append(m)
        object.__setattr__(self, "day_minutes", {d: tuple(ms) for d, ms in minutes.items()})
        if self.geo_latitude is not None:
            rad = math.radians(self.geo_latitude)
            object.__setattr__(self, "lat_radians", rad)
            object.__setattr__(self, "lat_cos", math.cos(rad))

    @property
    def has_geo(self) -> bool:
        return self.geo_latitude is not None and self.geo_longitude is not None

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable dict (sequences as lists); ``from_json`` restores an equal record."""
        out = dict(zip(_STORED, _stored_values(self), strict=True))
        for name in _SEQUENCES:
            out[name] = list(out[name])
        out["dates"] = [
            {
                "date": d.date.isoformat(),
                "start_time": _time_str(d.start_time),
                "end_time": _time_str(d.end_time),
                "end_date": d.end_date.isoformat() if d.end_date else None,
            }
            for d in self.dates
        ]
        out["day_times"] = [[day, m] for day, m in self.day_times]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventRecord:
        kwargs: dict[str, Any] = {}
        for f in attrs.fields(EventRecord):
            if f.name not in data or not f.init:
                continue
            v = data[f.name]
            if f.name == "dates":
                v = tuple(
                    EventDate(
                        date=dt.date.fromisoformat(d["date"]),
                        start_time=_parse_time(d.get("start_time")),
                        end_time=_parse_time(d.get("end_time")),
                        end_date=_parse_date(d.get("end_date")),
                    )
                    for d in v
                )
            elif f.name == "day_times":
                v = tuple((str(day), int(m)) for day, m in v)
            elif isinstance(v, list):
                v = tuple(v)
            elif f.name.startswith("geo_") or f.name == "confidence_score":
                v = float(v) if v is not None else None
            kwargs[f.name] = v
        return cls(**kwargs)


#: the fields stored (the derived ones are made again in memory), in order; those of them
#: that hold a tuple of plain values (``to_json`` writes them as lists)
_STORED = tuple(f.name for f in attrs.fields(EventRecord) if f.init)
_stored_values = operator.attrgetter(*_STORED)
_SEQUENCES = tuple(
    f.name
    for f in attrs.fields(EventRecord)
    if f.init and str(f.type).startswith("tuple[") and f.name not in ("dates", "day_times")
)


_IS_PLACE: dict[tuple[str, frozenset[str]], bool] = {}
register_cache(_IS_PLACE.clear)


def is_place(token: str, places: frozenset[str]) -> bool:
    """Own place name, allowing one spelling slip for longer words ("Nordwiler")."""
    if token in places:
        return True
    if len(token) < 6:
        return False
    key = (token, places)
    hit = _IS_PLACE.get(key)
    if hit is None:
        # one edit at most (which implies lengths within one), searched in C
        hit = process.extractOne(token, places, scorer=OSA.distance, score_cutoff=1) is not None
        if len(_IS_PLACE) > 100_000:
            _IS_PLACE.clear()
        _IS_PLACE[key] = hit
    return hit


def _title_forms(title: str, own_places: frozenset[str], cfg: MatchingConfig) -> tuple[str, ...]:
    n = cfg.normalization
    memo = _memo(n)
    key = ("tf", title, own_places)
    hit = memo.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    stop = _stopwords(n)
    forms: list[str] = []
    for variant in prefix_variants(title, n):
        base = norm_text(variant, n)
        if not base:
            continue
        # Only the key words: shared town names and articles would otherwise make
        # "Nachtumzug Emmendingen" look like "Fasnachtsball Emmendingen".
        kept = [t for t in base.split() if not is_place(t, own_places) and t not in stop]
        forms.append(join_compounds(" ".join(kept) if kept else base))
    out = tuple(dict.fromkeys(f for f in forms if f))
    memo[key] = out
    return out


def _stopwords(n: NormalizationConfig) -> frozenset[str]:
    memo = _memo(n)
    hit = memo.get("stopwords")
    if hit is None:
        hit = memo["stopwords"] = frozenset(n.stopwords)
    return hit  # type: ignore[return-value]


def _word_in(word: str, text: str) -> bool:
    return f" {word} " in f" {text.replace('-', ' ')} "


_IMPLICIT_END_MAX_DAYS = 180


def _place_context(
    names: tuple[str | None, str | None, str | None], n: NormalizationConfig
) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    """(city keys, own place words, own + district place words) of a location (memoised)."""
    memo = _memo(n)
    key = ("pc", names)
    hit = memo.get(key)
    if hit is None:
        keys = city_keys(names, n)
        own = place_words(names, n)
        hit = memo[key] = (keys, own, own | district_words(keys, n))
    return hit  # type: ignore[return-value]


def prepare_event(event: SourceEvent, cfg: MatchingConfig) -> EventRecord:
    """Normalise one source event (pure; call once at ingestion and store the result)."""
    n = cfg.normalization
    loc = event.location
    geo = loc.geo if loc is not None else None
    city = loc.city if loc else None
    printed = loc.printed_city if loc else None
    district = loc.district if loc else None
    keys, own_places, title_places = _place_context((city, printed, district), n)
    title_norm = norm_text(event.title, n)
    venue_norm = norm_text(loc.name if loc else None, n)
    # names that may appear in a title without saying *which* event it is
    # (place words are single tokens: a whole-word look-up is a set intersection)
    named = {*title_norm.replace("-", " ").split(), *venue_norm.replace("-", " ").split()}
    mentioned = tuple(sorted(title_places.intersection(named)))
    stop = _stopwords(n)
    title_tokens = tuple(
        dict.fromkeys(
            t
            for t in tokens(title_norm)
            if t not in stop and len(t) > 1 and not is_place(t, title_places)
        )
    )
    desc = norm_text(event.description, n)
    short = norm_text(event.short_description, n)
    highlights = norm_text(" ".join(event.highlights), n) if event.highlights else ""
    text = " ".join(x for x in (short, desc, highlights) if x)
    dates = tuple(event.dates)
    if cfg.date.prose_end_dates:
        prose = " ".join(x for x in (event.short_description, event.description) if x)
        dates = covered_dates(dates, prose, _IMPLICIT_END_MAX_DAYS)
    days, times = _days_and_times(dates, cfg.date.max_range_days)
    street_norm = norm_text(loc.street if loc else None, n)
    title_forms = _title_forms(event.title, title_places, cfg)
    texts = tuple(t for t in (desc, short) if t)
    venue_words = tuple(
        dict.fromkeys(t for t in tokens(venue_norm) if len(t) >= 3 and t not in stop)
    )
    hay = f"{title_norm} {venue_norm} {text} {street_norm}".replace("-", " ")
    hay_tokens = tuple(sorted(set(hay.split())))
    vocab = f" {hay} "
    non_content = stop | set(venue_words) | title_places
    # distinct words first (set difference in C), then the per-word tests
    candidates = set(f"{title_norm} {text}".replace("-", " ").split()).difference(non_content)
    content_words = tuple(sorted([t for t in candidates if len(t) >= 4 and not t.isdigit()]))
    return EventRecord(
        id=event.id,
        source_code=event.source_code,
        source_type=event.source_type,
        title=event.title,
        short_description=event.short_description,
        description=event.description,
        highlights=tuple(event.highlights),
        categories=tuple(event.categories),
        dates=tuple(event.dates),
        location_name=loc.name if loc else None,
        city=city,
        printed_city=printed,
        district=district,
        street=loc.street if loc else None,
        street_no=loc.street_no if loc else None,
        zipcode=loc.zipcode if loc else None,
        geo_latitude=geo.latitude if geo else None,
        geo_longitude=geo.longitude if geo else None,
        geo_confidence=geo.confidence if geo else None,
        is_family_event=event.is_family_event,
        is_child_focused=event.is_child_focused,
        admission_free=event.admission_free,
        registration_required=event.registration_required,
        registration_contact=event.registration_contact,
        confidence_score=event.confidence_score,
        title_norm=title_norm,
        title_forms=title_forms,
        title_tokens=title_tokens,
        description_norm=desc,
        short_description_norm=short,
        text_norm=text,
        venue_norm=venue_norm,
        street_norm=street_norm,
        city_keys=keys,
        place_words=tuple(sorted(own_places)),
        mentioned_places=mentioned,
        days=days,
        day_times=times,
        categories_norm=tuple(sorted({fold(c) for c in event.categories if c})),
        title_sorted=tuple(_sorted_tokens(f) for f in title_forms),
        texts_sorted=tuple(_sorted_tokens(t, n) for t in texts),
        venue_names=_venue_names(venue_norm, own_places, cfg),
        venue_words=venue_words,
        hay_tokens=hay_tokens,
        hay_joined=hay.replace(" ", ""),
        vocab=vocab,
        content_words=content_words,
    )


def _sorted_tokens(text: str, n: NormalizationConfig | None = None) -> str:
    if n is None:
        return " ".join(sorted(text.split()))
    memo = _memo(n)  # descriptions are often shared by several sources
    key = ("st", text)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = " ".join(sorted(text.split()))
    return hit  # type: ignore[return-value]


def _venue_names(
    venue_norm: str, own_places: frozenset[str], cfg: MatchingConfig
) -> tuple[str, ...]:
    """Proper-name words of the venue: not a venue type, not a place, not a stop word.

    "Kath. Kindergarten Kunterbunt" -> ["kunterbunt"]; "Sporthalle" -> [];
    "Gasthaus Zum Adler" -> ["adler"]. Venue-type words are recognised by their
    compound head ("Mehrzweck*halle*", "Pfarr*saal*"), so unseen venues of a
    known type need no list entry.
    """
    n = cfg.normalization
    if not venue_norm:
        return ()
    memo = _memo(n)
    key = ("vn", venue_norm, own_places)
    hit = memo.get(key)
    if hit is not None:
        return hit  # type: ignore[return-value]
    heads = tuple(n.venue_type_heads)
    generic = frozenset(n.venue_generic_words)
    stop = _stopwords(n)
    out = []
    for t in venue_norm.replace("-", " ").split():
        if len(t) < 3 or t in stop or t in own_places or t.isdigit():
            continue
        if t.endswith(heads) or t in generic:
            continue
        out.append(t)
    result = tuple(out)
    memo[key] = result
    return result
