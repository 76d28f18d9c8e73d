"""A parsed file survives the hand-over from the parse worker to the commit stage.

The parse worker pickles what it parsed (``actors/processor.py``); the value objects in
it pickle as tuples of their slots (``eventdedup/pickling.py``).  What comes back must be
the very same: every field, the derived ones too, and the same decisions.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import attrs
import pytest

from eventdedup.db.dedup import DbDeduplicator, record_json
from eventdedup.db.events import content_hash
from eventdedup.ingest.loader import LoadedFile
from eventdedup.matching.config import MatchingConfig, load_matching_config
from eventdedup.matching.decision import score_pair
from eventdedup.matching.guards import title_parts
from eventdedup.matching.record import EventRecord
from eventdedup.pickling import fast_pickle
from eventdedup.pipeline import ParsedFile, SentFile, parse_file
from eventdedup.testing import corpus_files


@pytest.fixture(scope="module")
def cfg() -> MatchingConfig:
    return load_matching_config(None)


def _round_trip(obj: Any) -> Any:
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _assert_same(a: Any, b: Any, path: str = "$") -> None:
    """Equal in every field of every attrs object inside, ``eq=False`` fields included."""
    assert type(a) is type(b), path
    if attrs.has(type(a)):
        for f in attrs.fields(type(a)):
            if f.name == "title_parts_memo":
                assert getattr(b, f.name) is None, path  # not carried: it names its config
                continue
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, float) and a != a:
        assert b != b, path  # NaN
    else:
        assert a == b, path


def _parse_all(paths: list[Path], cfg: MatchingConfig) -> list[ParsedFile]:
    prepare = DbDeduplicator(cfg).preparer()
    return [parse_file(p, 50 << 20, 10_000, prepare) for p in paths]


def test_the_corpus_comes_back_field_for_field(cfg: MatchingConfig) -> None:
    parsed = _parse_all(corpus_files(), cfg)
    records = [r for p in parsed for r in p.prepared.records.values()]
    assert len(records) > 300
    # memo fields as the commit stage fills them: the title's parts under a config
    for r in records[:50]:
        title_parts(r, cfg)
    assert all(r.title_parts_memo is not None for r in records[:50])
    for p in parsed:
        back = _round_trip(p)
        assert back == p
        _assert_same(p, back)
    # derived fields are carried, not just equal by accident
    with_geo = next(r for r in records if r.geo_latitude is not None and r.day_minutes)
    back_record = _round_trip(with_geo)
    assert back_record.lat_cos == with_geo.lat_cos != 0.0
    assert back_record.day_minutes == with_geo.day_minutes


def test_quarantined_events_and_warnings_come_back(tmp_path: Path, cfg: MatchingConfig) -> None:
    good = {
        "id": "h-1",
        "title": "Lesung im Rathaus",
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00", "end_date": "2026-03-02"}],
        "location": {
            "name": "Rathaus",
            "city": "Waldkirch",
            "geo": {"latitude": 99, "longitude": 7},
        },
        "source_type": "terminliste",
        "_extra": {"nested": [1, 2.5, None]},
    }
    bad = {"id": "h-2", "title": "Ohne Typ", "source_type": "flugblatt"}
    path = tmp_path / "wkb_01.03.2026_2026-03-01T10-00-00-000Z.json"
    path.write_text(json.dumps({"events": [good, bad], "metadata": {"issue": 7}}))
    [parsed] = _parse_all([path], cfg)
    assert parsed.loaded is not None
    assert parsed.loaded.rejected and parsed.loaded.warnings
    back = _round_trip(parsed)
    _assert_same(parsed, back)
    assert back.loaded.rejected[0].raw == bad
    assert back.loaded.events[0].raw == good


def test_a_lean_file_comes_back_with_its_whole_events_on_demand(cfg: MatchingConfig) -> None:
    """What the parse worker sends (``lean``): each accepted event's id, source and content
    hash; the whole events, parsed again from the file's bytes, are those parsed first."""
    prepare = DbDeduplicator(cfg).preparer()
    events = 0
    for path in corpus_files():
        whole = parse_file(path, 50 << 20, 10_000, prepare)
        lean = _round_trip(parse_file(path, 50 << 20, 10_000, prepare, lean=True))
        assert isinstance(whole.loaded, LoadedFile) and isinstance(lean.loaded, SentFile)
        assert lean.loaded.text._loaded is None  # not parsed again until asked
        _assert_same(whole.rows, lean.rows)
        for name in ("records", "entries", "record_json"):  # tokens are new with every call
            _assert_same(getattr(whole.prepared, name), getattr(lean.prepared, name), name)
        for name in ("source_code", "rejected", "metadata", "event_count", "warnings"):
            _assert_same(getattr(whole.loaded, name), getattr(lean.loaded, name), name)
        assert [(e.id, e.source_code, e.content_hash) for e in lean.loaded.events] == [
            (e.id, e.source_code, content_hash(e.raw)) for e in whole.loaded.events
        ]
        _assert_same(whole.loaded, lean.loaded.in_full())
        for sent, event in zip(lean.loaded.events, whole.loaded.events, strict=True):
            _assert_same(event, sent.in_full())
            assert list(sent.in_full().raw) == list(event.raw)  # key order too
        events += len(whole.loaded.events)
    assert events > 300


def test_decisions_are_the_same_after_the_hand_over(cfg: MatchingConfig) -> None:
    parsed = _parse_all(corpus_files(), cfg)
    records = [r for p in parsed for r in p.prepared.records.values()]
    back = {r.id: r for p in parsed for r in _round_trip(p).prepared.records.values()}
    by_day: dict[str, list[EventRecord]] = {}
    for r in records:
        for day in r.days[:1]:
            by_day.setdefault(day, []).append(r)
    pairs = [(a, b) for rs in by_day.values() for a in rs for b in rs if a.id < b.id]
    assert len(pairs) > 1000
    for a, b in pairs:
        assert score_pair(back[a.id], back[b.id], cfg) == score_pair(a, b, cfg)


def test_fast_pickle_refuses_what_it_cannot_restore() -> None:
    with pytest.raises(TypeError, match="not a slot"):

        @fast_pickle()
        @attrs.frozen(slots=False)
        class NoSlots:
            x: int

    with pytest.raises(TypeError, match="plain default"):

        @fast_pickle(reset=("memo",))
        @attrs.frozen
        class FactoryReset:
            memo: dict[str, int] = attrs.field(factory=dict)


def test_a_pickle_of_another_field_layout_fails_loudly(
    cfg: MatchingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker started from other code than the commit stage's (an upgrade in place): the
    pickle names its fields, so values never land in the wrong ones."""
    parsed = _parse_all(corpus_files()[:1], cfg)[0]
    record = next(iter(parsed.prepared.records.values()))
    data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
    names = EventRecord.__fast_pickle_names__  # type: ignore[attr-defined]
    monkeypatch.setattr(EventRecord, "__fast_pickle_names__", (names[1], names[0], *names[2:]))
    with pytest.raises(pickle.UnpicklingError, match="EventRecord was pickled with the fields"):
        pickle.loads(data)


def test_the_stored_record_text_is_the_one_json_writes(cfg: MatchingConfig) -> None:
    """The parse worker writes a record's JSON with orjson: the very text ``json.dumps``
    made, so what is stored (and hashed) does not change."""
    parsed = _parse_all(corpus_files(), cfg)
    for p in parsed:
        for event_id, record in p.prepared.records.items():
            made = json.dumps(record.to_json(), ensure_ascii=False, separators=(",", ":"))
            assert p.prepared.record_json[event_id] == made == record_json(record)
    odd = attrs.evolve(
        next(iter(parsed[0].prepared.records.values())),
        title='Tab\tneue\nZeile \u2028 "zitiert" \\ / é 😀',
        geo_latitude=1e-05,
        confidence_score=float("nan"),  # orjson refuses it; json writes NaN
    )
    assert record_json(odd) == json.dumps(odd.to_json(), ensure_ascii=False, separators=(",", ":"))


def _field_by_field(record: EventRecord) -> dict[str, Any]:
    """The stored form written field by field: every init field, in order, tuples as lists,
    dates as objects, day times as pairs (what ``EventRecord.to_json`` must give)."""
    out: dict[str, Any] = {}
    for f in attrs.fields(EventRecord):
        if not f.init:
            continue
        v = getattr(record, f.name)
        if f.name == "dates":
            v = [
                {
                    "date": d.date.isoformat(),
                    "start_time": d.start_time.strftime("%H:%M:%S") if d.start_time else None,
                    "end_time": d.end_time.strftime("%H:%M:%S") if d.end_time else None,
                    "end_date": d.end_date.isoformat() if d.end_date else None,
                }
                for d in v
            ]
        elif f.name == "day_times":
            v = [[day, m] for day, m in v]
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def test_the_stored_form_of_a_record_is_every_field_in_order(cfg: MatchingConfig) -> None:
    parsed = _parse_all(corpus_files(), cfg)
    records = [r for p in parsed for r in p.prepared.records.values()]
    assert any(d.end_date and d.start_time and d.end_time for r in records for d in r.dates)
    for r in records:
        made = r.to_json()
        want = _field_by_field(r)
        assert list(made) == list(want)
        assert json.dumps(made, ensure_ascii=False) == json.dumps(want, ensure_ascii=False)
        assert EventRecord.from_json(made) == r
