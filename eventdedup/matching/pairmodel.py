"""P(same event) for a scored pair: logistic regression over the signals and the rule outcome.

The coefficients and thresholds are fitted at training time (``eventdedup
train``, scikit-learn) on labelled pairs of synthetic corpora under several
vocabularies and shipped as ``pair_model.json``; inference here is plain
Python (one dot product and one ``exp`` per pair). ``MODEL_VERSION`` is the
version the code expects; it is stored with every decision.
"""

from __future__ import annotations

import importlib.resources
import json
import math
from collections.abc import Sequence
from typing import Any

import attrs

MODEL_VERSION = "pm-2026.12-4"
MODEL_FILE = "pair_model.json"

#: feature names, in the order of ``features``; the artefact must list the same
FEATURES: tuple[str, ...] = (
    "date",
    "geo",
    "title",
    "description",
    "combined",
    "title_x_date",
    "title_sq",
    "point_distance_known",
    "point_distance_10km",
    "rule_match",
    "rule_ambiguous",
    "rule_rescued",
    "rule_vetoed",
    "guard_towns",
    "guard_far",
    "guard_named_place",
    "guard_venue",
    "guard_words",
    "same_city",
    "title_exact",
    "title_words",
    "place_guard_x_title_exact",
    "place_guard_x_title_words",
    "place_guard_x_date",
    "days_partial",
    "time_apart",
    "time_apart_x_title_words",
    "venue_in_town",
)

#: reason prefixes of the guards (evidence of *different* events), by feature
TOWN_GUARD = "different towns"
FAR_GUARD = "far apart"
NAMED_PLACE_GUARD = "place '"
VENUE_GUARDS = ("different streets", "different venues")
WORD_GUARDS = (
    "distinguishing token",
    "different names",
    "different speakers",
    "different parties",
    "different organisers",
)
GUARD_PREFIXES = (TOWN_GUARD, FAR_GUARD, NAMED_PLACE_GUARD, *VENUE_GUARDS, *WORD_GUARDS)
#: the guards the model may overrule (one event listed under several towns, a
#: town-centre point far from the venue) when no other guard objects
OVERRULABLE = (TOWN_GUARD, FAR_GUARD)


def logistic(z: float) -> float:
    """1 / (1 + e^-z), without overflow for large negative z."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class PairModelError(ValueError):
    """The shipped model file is missing, malformed or of another version."""


@attrs.frozen
class PairModel:
    version: str
    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    match_at: float  # an ambiguous (or town/distance-guarded) pair with P >= match_at: match
    demote_below: float  # a rule match with P < demote_below: ambiguous
    overrule_at: float  # a pair held apart only by a town/distance guard, P >= this: match

    def probability(self, x: Sequence[float]) -> float:
        z = self.intercept
        for c, v in zip(self.coef, x, strict=True):
            z += c * v
        return logistic(z)

    def score(
        self,
        date: float,
        geo: float,
        title: float,
        description: float,
        combined: float,
        dist: float | None,
        decision: str,
        reason: str,
        same_city: bool,
        title_words: int,
        days_partial: bool = False,
        time_apart: bool = False,
        venue: int = 0,
    ) -> float:
        """``probability(features(...))`` without building the feature tuple (hot path).

        Equal to it up to float rounding (pinned by a test); indicators that are 0
        add nothing, so only the ones that are 1 are looked up.
        """
        c = self.coef
        z = (
            self.intercept
            + c[0] * date
            + c[1] * geo
            + c[2] * title
            + c[3] * description
            + c[4] * combined
            + c[5] * title * date
            + c[6] * title * title
        )
        if dist is not None:
            z += c[7] + c[8] * (dist if dist < 10.0 else 10.0) / 10.0
        if decision == "match":
            z += c[9]
        elif decision == "ambiguous":
            z += c[10]
        if "covered" in reason:
            z += c[11]
        place_guard = False
        first = reason[:1]
        if first == "v":
            if reason.startswith("vetoed"):
                z += c[12]
        elif first in ("d", "f", "p"):  # the guards' reasons
            if reason.startswith(TOWN_GUARD):
                z += c[13]
                place_guard = True
            elif reason.startswith(FAR_GUARD):
                z += c[14]
                place_guard = True
            elif reason.startswith(NAMED_PLACE_GUARD):
                z += c[15]
            elif reason.startswith(VENUE_GUARDS):
                z += c[16]
            elif reason.startswith(WORD_GUARDS):
                z += c[17]
        if same_city:
            z += c[18]
        exact = title >= 0.98
        if exact:
            z += c[19]
        words = (title_words if title_words < 4 else 4) / 4.0
        z += c[20] * words
        if place_guard:
            z += c[22] * words + c[23] * date
            if exact:
                z += c[21]
        elif venue:
            z += c[27] * venue
        if days_partial:
            z += c[24]
        if time_apart:
            z += c[25] + c[26] * words
        return logistic(z)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairModel:
        try:
            t = data["thresholds"]
            model = cls(
                version=str(data["version"]),
                features=tuple(data["features"]),
                coef=tuple(float(c) for c in data["coef"]),
                intercept=float(data["intercept"]),
                match_at=float(t["match"]),
                demote_below=float(t["demote"]),
                overrule_at=float(t["overrule"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PairModelError(f"{MODEL_FILE}: malformed ({exc!r})") from exc
        if model.features != FEATURES or len(model.coef) != len(FEATURES):
            raise PairModelError(f"{MODEL_FILE}: features differ from the code's")
        return model


def features(
    date: float,
    geo: float,
    title: float,
    description: float,
    combined: float,
    dist: float | None,
    decision: str,
    reason: str,
    same_city: bool,
    title_words: int,
    days_partial: bool = False,
    time_apart: bool = False,
    venue: int = 0,
) -> tuple[float, ...]:
    """The model's input for one pair (the rule decision and reason as indicators).

    ``same_city``: the listings share a town key; ``title_words``: key words of
    the shorter title (generic one-word titles recur in many towns);
    ``days_partial``: the listings share a day but each has days the other lacks
    (two runs of one film, two overlapping exhibitions: a recurring series'
    occurrences are different events, one event's days are a subset);
    ``time_apart``: both give start times on a common day and none agree within
    the tolerance (a misprinted hour, or a generic title at another hour);
    ``venue``: +1 with evidence of one venue (same street or similar venue name,
    ``guards.venue_agreement``), -1 when both name one (or both a street) without
    it, 0 when one names none (no evidence either way). Only pairs no town/distance
    guard holds apart use it (``venue_in_town``): across towns a generic venue name
    ("Stadthalle") recurs, and one event under many towns often names no venue.
    """
    place_guard = 1.0 if reason.startswith(OVERRULABLE) else 0.0
    exact = 1.0 if title >= 0.98 else 0.0
    words = min(title_words, 4) / 4.0
    return (
        date,
        geo,
        title,
        description,
        combined,
        title * date,
        title * title,
        0.0 if dist is None else 1.0,
        0.0 if dist is None else min(dist, 10.0) / 10.0,
        1.0 if decision == "match" else 0.0,
        1.0 if decision == "ambiguous" else 0.0,
        1.0 if "covered" in reason else 0.0,
        1.0 if reason.startswith("vetoed") else 0.0,
        1.0 if reason.startswith(TOWN_GUARD) else 0.0,
        1.0 if reason.startswith(FAR_GUARD) else 0.0,
        1.0 if reason.startswith(NAMED_PLACE_GUARD) else 0.0,
        1.0 if reason.startswith(VENUE_GUARDS) else 0.0,
        1.0 if reason.startswith(WORD_GUARDS) else 0.0,
        1.0 if same_city else 0.0,
        exact,
        words,
        # the town/distance guards' weight depends on how specific the shared title is
        place_guard * exact,
        place_guard * words,
        place_guard * date,
        1.0 if days_partial else 0.0,
        1.0 if time_apart else 0.0,
        words if time_apart else 0.0,
        0.0 if place_guard else float(venue),
    )


def load_shipped_model() -> PairModel:
    """The model shipped with the package; fails if its version is not the code's."""
    text = importlib.resources.files(__package__).joinpath(MODEL_FILE).read_text("utf-8")
    model = PairModel.from_json(json.loads(text))
    if model.version != MODEL_VERSION:
        raise PairModelError(
            f"{MODEL_FILE}: version {model.version!r}, the code expects {MODEL_VERSION!r}"
        )
    return model


_SHIPPED: list[PairModel] = []


def shipped_model() -> PairModel:
    """``load_shipped_model``, read once per process (the file is part of the package)."""
    if not _SHIPPED:
        _SHIPPED.append(load_shipped_model())
    return _SHIPPED[0]
