"""Listings in different towns at another time are no candidate pair (``score_candidate``)."""

from __future__ import annotations

import pytest

from eventdedup.matching import dedupe_batch, load_matching_config, prepare_event
from eventdedup.matching.blocking import candidate_pairs
from eventdedup.matching.clustering import strong_disagreement
from eventdedup.matching.decision import (
    NO_MATCH,
    NOT_NEEDED,
    elsewhere_at_another_time,
    score_candidate,
    score_pair,
)
from eventdedup.matching.signals import distance_km
from eventdedup.synth.corpus import Spec, synthetic_corpus
from eventdedup.synth.vocabulary import generated_vocabulary
from tests.matching.conftest import make_event

CFG = load_matching_config(None)
VOCAB = generated_vocabulary(5151)
TOWNS = [h + "ingen" for h in VOCAB.town_heads[:3]]
TITLE = f"Regionalentscheid Boule {VOCAB.club_names[0]}"


def _rec(id: str, town: str, start: str, title: str = TITLE, **kw: object):  # type: ignore[no-untyped-def]
    # neighbouring towns ~3 km apart, each geocoded to its own centre
    lat, lon = (47.90, 7.90) if town == TOWNS[0] else (47.92, 7.93)
    return prepare_event(
        make_event(id, title, city=town, lat=lat, lon=lon, start=start, **kw),  # type: ignore[arg-type]
        CFG,
    )


def test_other_town_at_another_time_is_no_candidate() -> None:
    a = _rec("a", TOWNS[0], "10:00")
    b = _rec("b", TOWNS[1], "14:00")
    assert score_candidate(a, b, CFG) is None
    assert score_candidate(b, a, CFG) is None
    # what scoring it would store: the town guard's no-match, P not needed, a cannot-link
    s = score_pair(a, b, CFG)
    assert s.decision == NO_MATCH and s.reason.startswith("different towns")
    assert s.probability == NOT_NEEDED
    assert strong_disagreement(s, CFG)


def test_other_town_at_the_same_time_is_scored() -> None:
    # one event listed under two towns: P may overrule the town guard
    a = _rec("a", TOWNS[0], "10:00")
    b = _rec("b", TOWNS[1], "10:00")
    assert score_candidate(a, b, CFG) == score_pair(a, b, CFG)


@pytest.mark.parametrize(
    ("b_town", "b_kw"),
    [
        ("same town", {}),
        ("names the other town", {"desc": f"Treffpunkt in {TOWNS[0]} am Sportplatz"}),
    ],
)
def test_at_another_time_but_not_provably_elsewhere_is_scored(
    b_town: str, b_kw: dict[str, str]
) -> None:
    a = _rec("a", TOWNS[0], "10:00")
    town = TOWNS[0] if b_town == "same town" else TOWNS[1]
    b = _rec("b", town, "14:00", **b_kw)
    s = score_candidate(a, b, CFG)
    assert s is not None and s == score_pair(a, b, CFG)
    assert not s.reason.startswith("different towns")


def test_every_pair_left_out_would_only_have_been_a_cannot_link() -> None:
    """On a generated corpus: the pairs ``score_candidate`` leaves out are, scored, a no-match
    that P never revises (not computed) and that clustering reads as a cannot-link."""
    corpus = synthetic_corpus(Spec(9151, 9152, 1500))
    records = {e.id: prepare_event(e, CFG) for e in corpus.events}
    pairs = candidate_pairs([records[i] for i in sorted(records)], [], CFG)
    left_out = [(a, b) for a, b in pairs if score_candidate(records[a], records[b], CFG) is None]
    assert len(left_out) > len(pairs) // 10
    for a, b in left_out:
        s = score_pair(records[a], records[b], CFG)
        assert s.decision == NO_MATCH and s.probability == NOT_NEEDED, s
        assert strong_disagreement(s, CFG), s
        dist = distance_km(records[a], records[b], CFG.geo)
        assert elsewhere_at_another_time(records[a], records[b], s.date, dist, CFG)
    # the batch pipeline stores the others only
    batch = dedupe_batch(corpus.events, CFG)
    assert batch.candidate_pair_count == len(pairs)
    assert len(batch.decisions) == len(pairs) - len(left_out)
