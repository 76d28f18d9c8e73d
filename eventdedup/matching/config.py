"""Matching configuration: typed and validated; the defaults live only in the packaged YAML.

The classes below declare each key's type and range; ``default_matching.yaml``
(package data, read once) gives every key its default, and a user's YAML is
deep-merged over it. Why a hand-rolled schema instead of a generic validator:
unknown, missing and ill-typed keys must be rejected with the full key path
(typos in an operator's YAML must not be silently ignored, docs/domain.md §17 item 23), and
the whole object must round-trip through JSON for storage in the database.
"""

from __future__ import annotations

import functools
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
    return (nums[0], nums[1], nums[2], nums[3])


_UNIT = _number(0.0, 1.0)
_POS = _number(0.0)


def _f(check: Callable[[Any, str], Any], **metadata: Any) -> Any:
    """A key: its value is validated and converted by ``check`` when building."""
    return attrs.field(metadata={"check": check, **metadata})


def _sub(cls: type) -> Any:
    """A nested section (a mapping in the YAML)."""
    return attrs.field(metadata={"section": cls})


# ---------------------------------------------------------------------------
# sections


@attrs.frozen
class Weights:
    """Signal weights (§4.6); renormalised, so they need not sum to exactly 1."""

    date: float = _f(_UNIT)
    geo: float = _f(_UNIT)
    title: float = _f(_UNIT)
    description: float = _f(_UNIT)


@attrs.frozen
class Thresholds:
    high: float = _f(_UNIT)
    low: float = _f(_UNIT)
    title_veto: float = _f(_UNIT)


@attrs.frozen
class GeoConfig:
    max_distance_km: float = _f(_number(0.001))
    min_confidence: float = _f(_UNIT)
    neutral_score: float = _f(_UNIT)
    venue_match_distance_km: float = _f(_POS)
    venue_mismatch_factor: float = _f(_UNIT)
    venue_similarity_cut: float = _f(_UNIT)
    identical_epsilon_deg: float = _f(_POS)
    # Coordinates outside this box are geocoder outliers (e.g. Darmstadt): no evidence.
    region_bbox: tuple[float, float, float, float] = _f(_bbox)


@attrs.frozen
class DateConfig:
    time_tolerance_minutes: float = _f(_POS)
    time_close_minutes: float = _f(_POS)
    close_factor: float = _f(_UNIT)
    far_factor: float = _f(_UNIT)
    time_gap_penalty_hours: float = _f(_POS)
    time_gap_penalty_factor: float = _f(_UNIT)
    # A listing whose dates all lie inside the other's dates (one day of a festival,
    # a subset of a multi-date schedule) gets at least this date score (§17 item 3).
    subset_score: float = _f(_UNIT)
    # multi-day ranges are expanded day by day up to this many days
    max_range_days: int = _f(_integer(1))
    # Read run ends from prose ("ist bis zum 8. März zu sehen") into the covered days.
    prose_end_dates: bool = _f(_boolean)


@attrs.frozen
class TitleBlend:
    primary_weight: float = _f(_UNIT)
    secondary_weight: float = _f(_UNIT)
    blend_lower: float = _f(_UNIT)
    blend_upper: float = _f(_UNIT)


@attrs.frozen
class TitleConfig:
    primary_weight: float = _f(_UNIT)
    secondary_weight: float = _f(_UNIT)
    blend_lower: float = _f(_UNIT)
    blend_upper: float = _f(_UNIT)
    cross_source_type: TitleBlend = _sub(TitleBlend)

    @property
    def default_blend(self) -> TitleBlend:
        return TitleBlend(
            self.primary_weight, self.secondary_weight, self.blend_lower, self.blend_upper
        )


@attrs.frozen
class DescriptionConfig:
    both_empty: float = _f(_UNIT)
    one_empty: float = _f(_UNIT)


def _overrides(value: Any, path: str) -> tuple[tuple[str, Weights], ...]:
    value = _as_mapping(value, path, "category -> weights")
    return tuple(
        (str(k), v if isinstance(v, Weights) else _build(Weights, v, f"{path}.{k}"))
        for k, v in sorted(value.items())
    )


@attrs.frozen
class CategoryWeights:
    priority: tuple[str, ...] = _f(_str_list)
    overrides: tuple[tuple[str, Weights], ...] = _f(_overrides, mapping=True)


@attrs.frozen
class GuardConfig:
    """Decision rules on top of the weighted score (fixes of §17 item 5 and §13)."""

    # Titles that differ in one dissimilar token each side ("St. Jakobus" vs "St. Josef").
    distinguishing_token: bool = _f(_boolean)
    # Different towns (after aliases) more than this far apart are different events.
    different_town_km: float = _f(_POS)
    # Headline-vs-listing rescue: minimum share of one title's key words found in the
    # other listing's title+description, with date and place agreeing.
    rescue_coverage: float = _f(_UNIT)
    rescue_min_combined: float = _f(_UNIT)
    # Mutual rescue: each listing's title key words at least this much covered by the
    # other listing, with the same place (venue/street, or trusted points this close).
    rescue_mutual_coverage: float = _f(_UNIT)
    same_place_km: float = _f(_POS)
    # Dissimilar venue names at trusted points at least this far apart: different
    # events (0 disables).
    different_venue_km: float = _f(_POS)
    # Same label, different names: "Kommunales Kino - Perfect Days" vs "Kommunales
    # Kino - Wuthering Heights" (the name after a shared label has no word in common
    # with the other listing at all).
    label_name_conflict: bool = _f(_boolean)
    # Different speakers: both titles name a person ("mit Monika Burger", "von
    # Martin Hug") and neither listing mentions the other's person anywhere.
    person_conflict: bool = _f(_boolean)


@attrs.frozen
class StructuralConfig:
    """Guards keyed on stable domain vocabulary, not on names that come and go."""

    # Both titles name a political party and the parties differ: different info stands.
    party_conflict: bool = _f(_boolean)
    parties: tuple[str, ...] = _f(_str_list)
    # One event listed under several towns: the model may merge across a town or
    # distance guard only with the same specific title, day and time.
    cross_town_min_title: float = _f(_UNIT)
    cross_town_min_date: float = _f(_UNIT)
    cross_town_min_words: int = _f(_integer(1))
    # Both titles name an organiser ("... der <Narrenzunft> <Name>") and the names differ.
    organiser_conflict: bool = _f(_boolean)


@attrs.frozen
class ModelConfig:
    """The pair model (``pairmodel.py``): P(same event) revises the rule decision.

    Off: the rules decide alone (P is still computed and stored).
    """

    enabled: bool = _f(_boolean)
    # Promote an ambiguous pair to a match at P >= the model's match threshold. Off by
    # default: on the dev sample such promotions were right 14 times in 23 (docs/matching.md).
    promote: bool = _f(_boolean)
    # Promote (as above) only an ambiguous pair with the same specific title: title
    # >= structural.cross_town_min_title and >= cross_town_min_words key words.
    promote_same_title: bool = _f(_boolean)
    # A no-match with P below this is a cannot-link: the two never share a cluster.
    different_below: float = _f(_UNIT)


@attrs.frozen
class ClusterConfig:
    max_cluster_size: int = _f(_integer(2))
    min_internal_similarity: float = _f(_UNIT)
    max_distinct_dates: int = _f(_integer(1))
    # a non-match pair inside a cluster with combined below this is "strong disagreement"
    disagreement_combined: float = _f(_UNIT)


@attrs.frozen
class BlockingConfig:
    geo_min_confidence: float = _f(_UNIT)
    region_bbox: tuple[float, float, float, float] = _f(_bbox)
    # ~2 km cells; the 4 half-shifted grids make points < ~1 km apart always meet.
    # (Listings in one town meet through the city key; farther apart than a few km
    # is a different event for the place guard anyway.)
    cell_lat_deg: float = _f(_number(0.001))
    cell_lon_deg: float = _f(_number(0.001))
    max_range_days: int = _f(_integer(1))
    title_token_keys: int = _f(_integer(0))
    min_title_token_length: int = _f(_integer(1))
    # keys are also scoped to a start-time slot of this width (0 = no time scoping)
    time_slot_minutes: int = _f(_integer(0))


@attrs.frozen
class NormalizationConfig:
    dash_prefixes: tuple[str, ...] = _f(_str_list)
    colon_prefixes: tuple[str, ...] = _f(_str_list)
    generic_prefixes: tuple[str, ...] = _f(_str_list)
    # Any "<at most N words>: rest" / "<..> - rest" prefix is also tried stripped
    # (both sides, best variant wins), so unknown type labels ("Kino:", "Lesung -")
    # need no list entry.
    generic_prefix_max_words: int = _f(_integer(0))
    synonyms: tuple[tuple[str, tuple[str, ...]], ...] = _f(_str_list_map, mapping=True)
    city_aliases: tuple[tuple[str, str], ...] = _f(_str_map, mapping=True)
    # German function words and calendar words that say nothing about which event it is.
    stopwords: tuple[str, ...] = _f(_str_list)
    ocr_fixes: bool = _f(_boolean)
    # Venue-type words, recognised as compound heads ("Sport-halle", "Pfarr-saal"):
    # what is left of a venue name is its proper name ("Kunterbunt", "Adler").
    venue_type_heads: tuple[str, ...] = _f(_str_list)
    venue_generic_words: tuple[str, ...] = _f(_str_list)


@attrs.frozen
class MatchingConfig:
    """The whole matching configuration (immutable; build with ``load_matching_config``)."""

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
        plain: dict[str, Any] = _to_plain(self)
        return plain

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MatchingConfig:
        """Rebuild from ``to_json`` output; missing keys take the defaults, unknown keys fail."""
        return _from_mapping(deep_merge(_packaged_defaults(), data))


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
        where = f"{path}.{name}" if path else name
        if name not in data:
            raise MatchingConfigError(f"{where}: missing key")
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


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` wins; nested mappings are merged key by key, everything else replaced.

    Neither argument is modified (unchanged nested mappings are shared with ``base``).
    """
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _from_mapping(data: Mapping[str, Any]) -> MatchingConfig:
    cfg: MatchingConfig = _build(MatchingConfig, data, "")
    return cfg


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
    """The text of ``default_matching.yaml``, the one source of the default values."""
    return (
        importlib.resources.files("eventdedup.matching")
        .joinpath(DEFAULT_YAML_NAME)
        .read_text(encoding="utf-8")
    )


@functools.cache
def _packaged_defaults() -> Mapping[str, Any]:
    """The packaged defaults, parsed once (callers merge over it and never modify it)."""
    return _read_yaml(packaged_defaults_yaml(), DEFAULT_YAML_NAME)


@functools.cache
def _default_config() -> MatchingConfig:
    return _from_mapping(_packaged_defaults())


def load_matching_config(path: str | Path | None = None) -> MatchingConfig:
    """The packaged defaults with the user's YAML at ``path`` deep-merged over them, validated.

    A missing ``path`` (None) gives the packaged defaults. A given path that does
    not exist is an error: a typo in an environment variable must not silently
    fall back to defaults.
    """
    if path is None:
        return _default_config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MatchingConfigError(f"<root>: cannot read {p}: {exc}") from exc
    return _from_mapping(deep_merge(_packaged_defaults(), _read_yaml(text, str(p))))


def config_fingerprint(cfg: MatchingConfig) -> str:
    """Stable text form; equal configs give equal fingerprints."""
    return json.dumps(cfg.to_json(), sort_keys=True, ensure_ascii=False)
