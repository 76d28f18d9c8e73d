"""Matching configuration: typed, validated, with defaults in code *and* in a packaged YAML.

Why a hand-rolled schema instead of a generic validator: every key must have a
code default (so a partial YAML is always complete after merging), unknown keys
must be rejected with the full key path (typos in an operator's YAML must not be
silently ignored, §17 item 23), and the whole object must round-trip through
JSON for storage in the database.
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

DEFAULT_YAML_NAME = "default_matching.yaml"


class MatchingConfigError(ValueError):
    """Invalid matching configuration; the message starts with the key path."""


# ---------------------------------------------------------------------------
# field validators (value, path) -> converted value


def _number(lo: float | None = None, hi: float | None = None) -> Callable[[Any, str], float]:
    def check(value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MatchingConfigError(f"{path}: must be a number")
        v = float(value)
        if lo is not None and hi is not None and not lo <= v <= hi:
            raise MatchingConfigError(f"{path}: must be between {lo:g} and {hi:g}")
        if lo is not None and v < lo:
            raise MatchingConfigError(f"{path}: must be >= {lo:g}")
        if hi is not None and v > hi:
            raise MatchingConfigError(f"{path}: must be <= {hi:g}")
        return v

    return check


def _integer(lo: int = 0) -> Callable[[Any, str], int]:
    def check(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MatchingConfigError(f"{path}: must be an integer")
        if value < lo:
            raise MatchingConfigError(f"{path}: must be >= {lo}")
        return int(value)

    return check


def _boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise MatchingConfigError(f"{path}: must be true or false")
    return value


def _str_list(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise MatchingConfigError(f"{path}: must be a list of strings")
    return tuple(value)


# Mappings are stored as sorted tuples of pairs so that the config stays hashable
# (normalisers are memoised per config) and iteration order is deterministic.
Pairs = tuple[tuple[str, Any], ...]


def _as_mapping(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if isinstance(value, tuple):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise MatchingConfigError(f"{path}: must be a mapping of {what}")
    return value


def _str_map(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    value = _as_mapping(value, path, "strings")
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise MatchingConfigError(f"{path}.{k}: must be a string")
    return tuple(sorted(value.items()))


def _str_list_map(value: Any, path: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    value = _as_mapping(value, path, "string lists")
    return tuple((str(k), _str_list(v, f"{path}.{k}")) for k, v in sorted(value.items()))


def _bbox(value: Any, path: str) -> tuple[float, float, float, float]:
    if not isinstance(value, list | tuple) or len(value) != 4:
        raise MatchingConfigError(f"{path}: must be [lat_min, lat_max, lon_min, lon_max]")
    nums = tuple(_number()(v, f"{path}[{i}]") for i, v in enumerate(value))
    if nums[0] >= nums[1] or nums[2] >= nums[3]:
        raise MatchingConfigError(f"{path}: minimum must be below maximum")
    return nums  # type: ignore[return-value]


_UNIT = _number(0.0, 1.0)
_POS = _number(0.0)


def _f(default: Any, check: Callable[[Any, str], Any]) -> Any:
    """An attrs field with an (immutable) default and a validator used when building."""
    return attrs.field(default=default, metadata={"check": check})


def _sub(cls: type) -> Any:
    return attrs.field(factory=cls, metadata={"section": cls})


# ---------------------------------------------------------------------------
# sections


@attrs.frozen
class Weights:
    """Signal weights (§4.6); renormalised, so they need not sum to exactly 1."""

    date: float = _f(0.30, _UNIT)
    geo: float = _f(0.25, _UNIT)
    title: float = _f(0.30, _UNIT)
    description: float = _f(0.15, _UNIT)


@attrs.frozen
class Thresholds:
    high: float = _f(0.75, _UNIT)
    low: float = _f(0.35, _UNIT)
    title_veto: float = _f(0.45, _UNIT)


@attrs.frozen
class GeoConfig:
    max_distance_km: float = _f(10.0, _number(0.001))
    min_confidence: float = _f(0.85, _UNIT)
    neutral_score: float = _f(0.5, _UNIT)
    venue_match_distance_km: float = _f(1.0, _POS)
    venue_mismatch_factor: float = _f(0.5, _UNIT)
    venue_similarity_cut: float = _f(0.5, _UNIT)
    identical_epsilon_deg: float = _f(1e-6, _POS)
    # Coordinates outside this box are geocoder outliers (e.g. Darmstadt): no evidence.
    region_bbox: tuple[float, float, float, float] = _f((47.5, 48.5, 7.3, 8.5), _bbox)


@attrs.frozen
class DateConfig:
    time_tolerance_minutes: float = _f(30.0, _POS)
    time_close_minutes: float = _f(90.0, _POS)
    close_factor: float = _f(0.1, _UNIT)
    far_factor: float = _f(0.0, _UNIT)
    time_gap_penalty_hours: float = _f(2.0, _POS)
    time_gap_penalty_factor: float = _f(0.0, _UNIT)
    # A listing whose dates all lie inside the other's dates (one day of a festival,
    # a subset of a multi-date schedule) gets at least this date score (§17 item 3).
    subset_score: float = _f(0.9, _UNIT)
    # multi-day ranges are expanded day by day up to this many days
    max_range_days: int = _f(31, _integer(1))
    # Read run ends from prose ("ist bis zum 8. März zu sehen") into the covered days.
    # Off by default: on the dev corpus it lets exhibitions meet across days but adds
    # as many false merges (different exhibitions in one venue) as it recovers.
    prose_end_dates: bool = _f(False, _boolean)


@attrs.frozen
class TitleBlend:
    primary_weight: float = _f(0.7, _UNIT)
    secondary_weight: float = _f(0.3, _UNIT)
    blend_lower: float = _f(0.40, _UNIT)
    blend_upper: float = _f(0.80, _UNIT)


def _cross_blend() -> TitleBlend:
    return TitleBlend(0.4, 0.6, 0.25, 0.95)


@attrs.frozen
class TitleConfig:
    primary_weight: float = _f(0.7, _UNIT)
    secondary_weight: float = _f(0.3, _UNIT)
    blend_lower: float = _f(0.40, _UNIT)
    blend_upper: float = _f(0.80, _UNIT)
    cross_source_type: TitleBlend = attrs.field(
        factory=_cross_blend, metadata={"section": TitleBlend}
    )

    @property
    def default_blend(self) -> TitleBlend:
        return TitleBlend(
            self.primary_weight, self.secondary_weight, self.blend_lower, self.blend_upper
        )


@attrs.frozen
class DescriptionConfig:
    both_empty: float = _f(0.5, _UNIT)
    one_empty: float = _f(0.4, _UNIT)


_DEFAULT_OVERRIDES = {
    "fasnacht": {"date": 0.30, "geo": 0.30, "title": 0.25, "description": 0.15},
    "versammlung": {"date": 0.25, "geo": 0.20, "title": 0.40, "description": 0.15},
}


def _overrides(value: Any, path: str) -> tuple[tuple[str, Weights], ...]:
    value = _as_mapping(value, path, "category -> weights")
    return tuple(
        (str(k), v if isinstance(v, Weights) else _build(Weights, v, f"{path}.{k}"))
        for k, v in sorted(value.items())
    )


@attrs.frozen
class CategoryWeights:
    priority: tuple[str, ...] = _f(("fasnacht", "versammlung"), _str_list)
    overrides: tuple[tuple[str, Weights], ...] = attrs.field(
        default=tuple((k, Weights(**v)) for k, v in sorted(_DEFAULT_OVERRIDES.items())),
        metadata={"check": _overrides, "mapping": True},
    )


@attrs.frozen
class GuardConfig:
    """Decision rules on top of the weighted score (fixes of §17 item 5 and §13)."""

    # Titles that differ in one dissimilar token each side ("St. Jakobus" vs "St. Josef").
    distinguishing_token: bool = _f(True, _boolean)
    # Different towns (after aliases) more than this far apart are different events.
    different_town_km: float = _f(3.0, _POS)
    # Headline-vs-listing rescue: minimum share of one title's key words found in the
    # other listing's title+description, with date and place agreeing.
    rescue_coverage: float = _f(0.9, _UNIT)
    rescue_min_combined: float = _f(0.55, _UNIT)
    # Mutual rescue: each listing's title key words at least this much covered by the
    # other listing, with the same place (venue/street, or trusted points this close).
    rescue_mutual_coverage: float = _f(0.3, _UNIT)
    same_place_km: float = _f(0.3, _POS)
    # Dissimilar venue names at trusted points at least this far apart: different
    # events (0 disables).
    different_venue_km: float = _f(1.5, _POS)
    # Same label, different names: "Kommunales Kino - Perfect Days" vs "Kommunales
    # Kino - Wuthering Heights" (the name after a shared label has no word in common
    # with the other listing at all).
    label_name_conflict: bool = _f(True, _boolean)
    # Different speakers: both titles name a person ("mit Monika Burger", "von
    # Martin Hug") and neither listing mentions the other's person anywhere.
    person_conflict: bool = _f(True, _boolean)


@attrs.frozen
class StructuralConfig:
    """Guards keyed on stable domain vocabulary, not on names that come and go."""

    # Both titles name a political party and the parties differ: different info stands.
    party_conflict: bool = _f(True, _boolean)
    parties: tuple[str, ...] = _f(
        (
            "CDU",
            "CSU",
            "SPD",
            "FDP",
            "Grüne",
            "Bündnis 90",
            "Die Linke",
            "Linke",
            "Freie Wähler",
            "ÖDP",
            "Volt",
            "AfD",
            "Die PARTEI",
            "BSW",
        ),
        _str_list,
    )
    # One event listed under several towns: the model may merge across a town or
    # distance guard only with the same specific title, day and time.
    cross_town_min_title: float = _f(0.98, _UNIT)
    cross_town_min_date: float = _f(0.9, _UNIT)
    cross_town_min_words: int = _f(2, _integer(1))


@attrs.frozen
class ModelConfig:
    """The pair model (``pairmodel.py``): P(same event) revises the rule decision.

    Off: the rules decide alone (P is still computed and stored).
    """

    enabled: bool = _f(True, _boolean)
    # Promote an ambiguous pair to a match at P >= the model's match threshold. Off by
    # default: on the dev sample such promotions were right 14 times in 23 (docs/matching.md).
    promote: bool = _f(False, _boolean)
    # A no-match with P below this is a cannot-link: the two never share a cluster.
    different_below: float = _f(0.02, _UNIT)


@attrs.frozen
class ClusterConfig:
    max_cluster_size: int = _f(15, _integer(2))
    min_internal_similarity: float = _f(0.40, _UNIT)
    max_distinct_dates: int = _f(3, _integer(1))
    # a non-match pair inside a cluster with combined below this is "strong disagreement"
    disagreement_combined: float = _f(0.35, _UNIT)


@attrs.frozen
class BlockingConfig:
    geo_min_confidence: float = _f(0.85, _UNIT)
    region_bbox: tuple[float, float, float, float] = _f((47.5, 48.5, 7.3, 8.5), _bbox)
    # ~2 km cells; the 4 half-shifted grids make points < ~1 km apart always meet.
    # (Listings in one town meet through the city key; farther apart than a few km
    # is a different event for the place guard anyway.)
    cell_lat_deg: float = _f(0.02, _number(0.001))
    cell_lon_deg: float = _f(0.03, _number(0.001))
    max_range_days: int = _f(31, _integer(1))
    title_token_keys: int = _f(3, _integer(0))
    min_title_token_length: int = _f(5, _integer(1))
    # keys are also scoped to a start-time slot of this width (0 = no time scoping)
    time_slot_minutes: int = _f(120, _integer(0))


_DASH_PREFIXES = [
    "Nordwiler Narrenfahrplan",
    "Wahlkampfstand Bündnis 90/Die Grünen",
    "Kommunales Kino",
    "Kolping Kids",
    "Fasnet im Ladhof",
    "Narrenzunft Bergteufel",
]
_COLON_PREFIXES = [
    "Vortrag",
    "Bildervortrag",
    "Kochworkshop",
    "FreiTagZeit",
    "Jungentreff",
    "Textil-Tag",
    "SPD-Veranstaltung",
    "Theaterabend",
    "Kinderprogramm",
    "SkF Waldkirch",
    "Waldkircher Klimagespräch",
]
_GENERIC_PREFIXES = ["Tag der offenen Tür"]
_SYNONYMS = {
    "fastnacht": ["fasnets", "fasent", "fasend", "fasnet", "fasnacht", "fasching", "karneval"],
    "hemdglunker": ["hemdklunker", "hemdglunki", "hendglunki"],
}
_CITY_ALIASES = {
    "Nordweil": "Kenzingen",
    "Hecklingen": "Kenzingen",
    "Bombach": "Kenzingen",
    "Mundingen": "Emmendingen",
    "Kollmarsreute": "Emmendingen",
    "Wasser": "Emmendingen",
    "Windenreute": "Emmendingen",
    "Maleck": "Emmendingen",
    "Kollnau": "Waldkirch",
    "Buchholz": "Waldkirch",
    "Suggental": "Waldkirch",
    "Waltershofen": "Freiburg im Breisgau",
    "Opfingen": "Freiburg im Breisgau",
    "Tiengen": "Freiburg im Breisgau",
    "Munzingen": "Freiburg im Breisgau",
    "Lehen": "Freiburg im Breisgau",
    "Bleibach": "Gutach im Breisgau",
    "Oberhausen": "Rheinhausen",
    "Niederhausen": "Rheinhausen",
}
# German function words and calendar words that say nothing about which event it is.
_STOPWORDS = [
    "der",
    "die",
    "das",
    "den",
    "dem",
    "des",
    "ein",
    "eine",
    "einer",
    "eines",
    "einem",
    "einen",
    "und",
    "oder",
    "mit",
    "im",
    "in",
    "am",
    "an",
    "auf",
    "aus",
    "bei",
    "beim",
    "zum",
    "zur",
    "zu",
    "vom",
    "von",
    "fuer",
    "ueber",
    "uebe",
    "unter",
    "nach",
    "vor",
    "ab",
    "bis",
    "um",
    "als",
    "auch",
    "ist",
    "sind",
    "wird",
    "es",
    "sich",
    "alle",
    "neue",
    "neuem",
    "neuen",
    "neuer",
    "grosse",
    "grossen",
    "grosser",
    "grossem",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "sonnabend",
    "heute",
    "morgen",
    "abend",
    "termin",
    "tipp",
    "termintipp",
    "st",
    "kath",
    "ev",
    "evang",
    "e",
    "v",
    "ev",
    "uhr",
    "jahren",
    "ab",
]

_VENUE_HEADS = [
    "halle",
    "saal",
    "haus",
    "heim",
    "zentrum",
    "kirche",
    "platz",
    "garten",
    "schule",
    "stube",
    "keller",
    "scheune",
    "gelaende",
    "strasse",
    "mitte",
    "stadt",
    "hof",
    "kino",
    "bad",
    "treff",
    "museum",
    "bibliothek",
    "buecherei",
    "verwaltung",
    "kapelle",
    "bahnhof",
    "park",
    "gymnasium",
    "kita",
    "kiga",
    "statte",
    "staette",
    "raum",
    "bau",
    "bühne",
    "buehne",
    "thek",
    "aula",
    "foyer",
    "stadion",
    "weg",
    "gasse",
    "markt",
    "turm",
    "zelt",
]
_VENUE_GENERIC = [
    "gasthaus",
    "gasthof",
    "restaurant",
    "cafe",
    "kath",
    "ev",
    "evang",
    "katholisch",
    "kommunales",
    "staedtische",
    "oeffentliche",
    "alte",
    "alten",
    "alter",
    "neue",
    "neuen",
    "grosse",
    "grosser",
    "kleine",
    "kleiner",
    "online",
    "zoom",
    "vhs",
    "juz",
    "koki",
    "treffpunkt",
    "ortsmitte",
    "innenstadt",
    "altstadt",
    "dorfplatz",
    "saal",
    "rathaus",
]


@attrs.frozen
class NormalizationConfig:
    dash_prefixes: tuple[str, ...] = _f(tuple(_DASH_PREFIXES), _str_list)
    colon_prefixes: tuple[str, ...] = _f(tuple(_COLON_PREFIXES), _str_list)
    generic_prefixes: tuple[str, ...] = _f(tuple(_GENERIC_PREFIXES), _str_list)
    # Any "<at most N words>: rest" / "<..> - rest" prefix is also tried stripped
    # (both sides, best variant wins), so unknown type labels ("Kino:", "Lesung -")
    # need no list entry.
    generic_prefix_max_words: int = _f(3, _integer(0))
    synonyms: tuple[tuple[str, tuple[str, ...]], ...] = attrs.field(
        default=tuple((k, tuple(v)) for k, v in sorted(_SYNONYMS.items())),
        metadata={"check": _str_list_map, "mapping": True},
    )
    city_aliases: tuple[tuple[str, str], ...] = attrs.field(
        default=tuple(sorted(_CITY_ALIASES.items())),
        metadata={"check": _str_map, "mapping": True},
    )
    stopwords: tuple[str, ...] = _f(tuple(dict.fromkeys(_STOPWORDS)), _str_list)
    ocr_fixes: bool = _f(True, _boolean)
    # Venue-type words, recognised as compound heads ("Sport-halle", "Pfarr-saal"):
    # what is left of a venue name is its proper name ("Kunterbunt", "Adler").
    venue_type_heads: tuple[str, ...] = _f(tuple(_VENUE_HEADS), _str_list)
    venue_generic_words: tuple[str, ...] = _f(tuple(_VENUE_GENERIC), _str_list)


@attrs.frozen
class MatchingConfig:
    """The whole matching configuration (immutable; build with load_matching_config)."""

    scoring: Weights = _sub(Weights)
    thresholds: Thresholds = _sub(Thresholds)
    geo: GeoConfig = _sub(GeoConfig)
    date: DateConfig = _sub(DateConfig)
    title: TitleConfig = _sub(TitleConfig)
    description: DescriptionConfig = _sub(DescriptionConfig)
    category_weights: CategoryWeights = _sub(CategoryWeights)
    guards: GuardConfig = _sub(GuardConfig)
    cluster: ClusterConfig = _sub(ClusterConfig)
    blocking: BlockingConfig = _sub(BlockingConfig)
    normalization: NormalizationConfig = _sub(NormalizationConfig)
    model: ModelConfig = _sub(ModelConfig)
    structural: StructuralConfig = _sub(StructuralConfig)

    def to_json(self) -> dict[str, Any]:
        return _to_plain(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchingConfig:
        """Rebuild from ``to_json`` output; missing keys take defaults, unknown keys fail."""
        return _from_mapping(data)


# ---------------------------------------------------------------------------
# building / merging


def _to_plain(obj: Any) -> Any:
    if attrs.has(type(obj)):
        out = {}
        for f in attrs.fields(type(obj)):
            value = getattr(obj, f.name)
            if f.metadata.get("mapping"):
                value = dict(value)
            out[f.name] = _to_plain(value)
        return out
    if isinstance(obj, Mapping):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, Mapping):
        raise MatchingConfigError(f"{path or '<root>'}: must be a mapping")
    fields = {f.name: f for f in attrs.fields(cls)}
    for key in data:
        if key not in fields:
            where = f"{path}.{key}" if path else str(key)
            raise MatchingConfigError(f"{where}: unknown key")
    kwargs: dict[str, Any] = {}
    for name, fld in fields.items():
        if name not in data:
            continue
        where = f"{path}.{name}" if path else name
        if "section" in fld.metadata:
            kwargs[name] = _build(fld.metadata["section"], data[name], where)
        else:
            kwargs[name] = fld.metadata["check"](data[name], where)
    obj = cls(**kwargs)
    _check_cross_field(obj, path)
    return obj


def _check_cross_field(obj: Any, path: str) -> None:
    p = f"{path}." if path else ""
    if isinstance(obj, Thresholds) and obj.low > obj.high:
        raise MatchingConfigError(f"{p}low: must not exceed thresholds.high")
    if isinstance(obj, TitleConfig | TitleBlend) and obj.blend_lower > obj.blend_upper:
        raise MatchingConfigError(f"{p}blend_lower: must not exceed blend_upper")
    if isinstance(obj, DateConfig) and obj.time_tolerance_minutes > obj.time_close_minutes:
        raise MatchingConfigError(f"{p}time_tolerance_minutes: must not exceed time_close_minutes")
    if isinstance(obj, Weights) and obj.date + obj.geo + obj.title + obj.description <= 0:
        raise MatchingConfigError(f"{path or 'scoring'}: weights must not all be zero")
    if isinstance(obj, CategoryWeights):
        for cat in obj.priority:
            if cat not in dict(obj.overrides):
                raise MatchingConfigError(f"{p}priority: '{cat}' has no entry in overrides")


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _from_mapping(data: Mapping[str, Any]) -> MatchingConfig:
    return _build(MatchingConfig, data, "")


def _read_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MatchingConfigError(f"<root>: invalid YAML in {where}: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise MatchingConfigError(f"<root>: {where} must contain a mapping")
    return dict(loaded)


def packaged_defaults_yaml() -> str:
    return (
        importlib.resources.files("eventdedup.matching")
        .joinpath(DEFAULT_YAML_NAME)
        .read_text(encoding="utf-8")
    )


def load_matching_config(path: str | Path | None = None) -> MatchingConfig:
    """Code defaults <- packaged YAML <- the user's YAML (deep merge), then validate.

    A missing ``path`` (None) gives the packaged defaults. A given path that does
    not exist is an error: a typo in an environment variable must not silently
    fall back to defaults.
    """
    merged = _to_plain(MatchingConfig())
    merged = _deep_merge(merged, _read_yaml(packaged_defaults_yaml(), DEFAULT_YAML_NAME))
    if path is not None:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise MatchingConfigError(f"<root>: cannot read {p}: {exc}") from exc
        merged = _deep_merge(merged, _read_yaml(text, str(p)))
    return _from_mapping(merged)


def config_fingerprint(cfg: MatchingConfig) -> str:
    """Stable text form; equal configs give equal fingerprints."""
    return json.dumps(cfg.to_json(), sort_keys=True, ensure_ascii=False)
