"""The synthetic corpus is deterministic, valid input, and holds duplicates and look-alikes."""

from __future__ import annotations

from collections import Counter
from types import ModuleType

from eventdedup.ingest.loader import load_file


def test_same_seed_same_files_and_every_event_is_valid(synthetic: ModuleType) -> None:
    first = [(f.name, f.to_bytes()) for f in synthetic.take(synthetic.generate(3), 1000)]
    again = [(f.name, f.to_bytes()) for f in synthetic.take(synthetic.generate(3), 1000)]
    assert first == again
    assert [f.name for f in synthetic.take(synthetic.generate(4), 1000)] != [n for n, _ in first]
    files = list(synthetic.take(synthetic.generate(3), 1000))
    assert sum(len(f.events) for f in files) == 1000
    assert len({f.name for f in files}) == len(files)
    for f in files:
        loaded = load_file(f.to_bytes(), f.name)
        assert not loaded.rejected, loaded.rejected[:1]
        assert len(loaded.events) == len(f.events)


def test_duplicates_across_sources_and_look_alikes(synthetic: ModuleType) -> None:
    files = list(synthetic.take(synthetic.generate(5), 3000))
    truth = [t for f in files for t in f.truth]
    per_key = Counter(k for _, k, _ in truth)
    assert 1.5 < len(truth) / len(per_key) < 2.5  # listings per real event
    groups = {g for _, _, g in truth if g}
    assert len(groups) > 50  # hard negatives: different events that look alike
    sources = {f.name.split("_", 1)[0] for f in files}
    assert len(sources) >= 5
    days = {e["event_dates"][0]["date"] for f in files for e in f.events if e["event_dates"]}
    assert len(days) >= 7  # spread over the calendar, not one busy day
    ids = [i for i, _, _ in truth]
    assert len(ids) == len(set(ids))
    assert next(synthetic.generate(5)).name == files[0].name
