"""A batch parses each stored record it needs once, even with no record cache."""

from __future__ import annotations

import collections
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.db import dedup
from eventdedup.db.dedup import DbDeduplicator
from eventdedup.matching import EventRecord, load_matching_config
from tests._support.pipeline import file_processor


def test_stored_records_parsed_once_per_batch(
    corpus_files: list[Path],
    tmp_path: Path,
    migrated_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no cache: every stored candidate is read from the database, as in a large backlog
    processor = file_processor(
        migrated_engine, tmp_path, DbDeduplicator(load_matching_config(None), record_cache=0)
    )
    staging = tmp_path / "staging"
    staging.mkdir()
    copies = []
    for path in corpus_files:
        copies.append(staging / path.name)
        shutil.copyfile(path, copies[-1])
    half = len(copies) // 2
    for copy in copies[:half]:
        assert processor.process(copy).outcome == "processed"

    parsed: collections.Counter[str] = collections.Counter()
    plain = dedup._record

    def counting(text: str) -> EventRecord:
        record = plain(text)
        parsed[record.id] += 1
        return record

    monkeypatch.setattr(dedup, "_record", counting)
    outcomes = processor.commit_batch([processor.parse(c) for c in copies[half:]])
    assert {o.outcome for o in outcomes} == {"processed"}
    assert len(parsed) > 100  # the batch did read stored candidates back
    assert max(parsed.values()) == 1, parsed.most_common(3)
