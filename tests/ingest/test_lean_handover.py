"""A file handed over lean (``parse_file(lean=True)``) is stored and decided as a whole one.

The parse worker hands the commit stage each accepted event as a ``SentEvent``: its id,
source and content hash, not its fields and ``raw``; the whole event is parsed again from
the file's bytes only when needed (preparing again after a configuration change,
quarantining an id stored before with other content).  The same files committed from the
worker's pickles and from whole parsed files must give the same rows (``raw`` included),
the same skip/reject decisions for repeated ids, within a batch and across batches, and
the same dead letters.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import sqlalchemy as sa

from eventdedup.actors.processor import parse_pickled
from eventdedup.db.dedup import DbDeduplicator
from eventdedup.db.migrate import upgrade_head
from eventdedup.matching import load_matching_config
from eventdedup.matching.record import prepare_event
from eventdedup.model import SourceEvent
from eventdedup.pipeline import FileOutcome, FileProcessor, ParsedFile, SentEvent, SentFile
from tests._support.db import rows
from tests._support.pipeline import file_processor


def _event(i: int, title: str = "Lesung im Rathaus", **extra: Any) -> dict[str, Any]:
    # keys deliberately not in sorted order: a quarantined event is written back as it came
    return {
        "title": f"{title} {i}",
        "id": f"lean-{i}",
        "source_type": "terminliste",
        "location": {"name": "Rathaus", "city": "Waldkirch"},
        "event_dates": [{"date": "2026-03-01", "start_time": "19:00"}],
        **extra,
    }


#: batches of files: an id repeated unchanged is skipped, changed it is quarantined, whether
#: the first copy is in a file before it in the batch or stored by an earlier batch
BATCHES: list[list[tuple[str, dict[str, Any]]]] = [
    [
        (
            "rks_lean_01.03.2026.json",
            {
                "events": [
                    _event(1, _zz={"b": 1, "a": [1.5, None, "ü"]}),
                    _event(2, note="Eintritt\u0000frei"),  # a NUL: stored through json_safe
                    {"id": "lean-bad", "title": "Ohne Typ", "source_type": "flugblatt"},
                ],
                "metadata": {"issue": 1},
            },
        ),
        (
            "ets_lean_01.03.2026.json",
            {
                "events": [
                    _event(2, note="Eintritt\u0000frei"),  # the same: skipped
                    _event(1, "Anders", _zz={"b": 1}),  # other content: quarantined
                    _event(3),
                ]
            },
        ),
    ],
    [
        (
            "bwb_lean_02.03.2026.json",
            {
                "events": [
                    _event(3),  # stored by the first batch, the same: skipped
                    _event(2, "Geändert"),  # stored by the first batch, changed: quarantined
                    _event(4, zeta=1, alpha=2),
                ]
            },
        ),
        (
            "del_lean_02.03.2026.json",
            {"events": [_event(4, "Wieder anders"), _event(5), _event(3)]},
        ),
    ],
]


def _handed_over(processor: FileProcessor) -> Callable[[Path], ParsedFile]:
    """What the processor's parse worker sends: parsed there, pickled, unpickled here."""

    def parse(path: Path) -> ParsedFile:
        data = parse_pickled(
            path, processor.max_file_bytes, processor.max_events, processor.preparer()
        )
        parsed: ParsedFile = pickle.loads(data)
        return parsed

    return parse


def _run(
    processor: FileProcessor, inbox: Path, parse: Callable[[Path], ParsedFile]
) -> list[list[FileOutcome]]:
    inbox.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for batch in BATCHES:
        paths = []
        for name, content in batch:
            (inbox / name).write_text(json.dumps(content, ensure_ascii=False))
            paths.append(inbox / name)
        outcomes.append(processor.commit_batch([parse(p) for p in paths]))
    # a file of a batch dropped again under its name: committed, so it is "archived"
    name, content = BATCHES[0][1]
    (inbox / name).write_text(json.dumps(content, ensure_ascii=False))
    outcomes.append([processor.commit(parse(inbox / name))])
    return outcomes


def _outcomes(outcomes: list[list[FileOutcome]]) -> list[Any]:
    return [
        [(o.filename, o.outcome, o.events_accepted, o.events_skipped, o.events_rejected) for o in b]
        for b in outcomes
    ]


def _stored(engine: sa.Engine) -> Any:
    events = rows(
        engine,
        "SELECT e.*, CAST(e.raw AS text) AS raw_text, CAST(e.record AS text) AS record_text, "
        "f.filename FROM source_events e JOIN file_ingestions f ON f.id = e.file_id ORDER BY e.id",
    )
    leave_out = {"created_at", "raw", "record"}
    files = rows(
        engine,
        "SELECT filename, file_hash, state, events_accepted, events_rejected, events_skipped, "
        "rejected, file_metadata FROM file_ingestions ORDER BY id",
    )
    messages = rows(engine, "SELECT type, data FROM outbox ORDER BY seq")
    return (
        [{k: v for k, v in r._asdict().items() if k not in leave_out} for r in events],
        [tuple(r) for r in files],
        [
            (r.type, {k: v for k, v in r.data.items() if k not in {"timings_ms", "duration_ms"}})
            for r in messages
        ],
    )


def _dead_letters(folder: Path) -> dict[str, Any]:
    out = {}
    for path in sorted(folder.iterdir()):
        content = json.loads(path.read_text())
        content.pop("at", None)
        content.get("metadata", {}).pop("rejectedAt", None)
        out[path.name] = content
    return out


def _start_over(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_head(engine)


def test_a_lean_hand_over_stores_and_decides_as_whole_events(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    whole = file_processor(migrated_engine, tmp_path / "whole")
    expected = _run(whole, tmp_path / "whole" / "inbox", whole.parse)
    reference = _stored(migrated_engine)
    _start_over(migrated_engine)

    lean = file_processor(migrated_engine, tmp_path / "lean")
    sent: list[ParsedFile] = []

    def parse(path: Path) -> ParsedFile:
        sent.append(_handed_over(lean)(path))
        return sent[-1]

    outcomes = _run(lean, tmp_path / "lean" / "inbox", parse)
    # what crossed is lean indeed: no whole event, no raw of an accepted one
    assert all(isinstance(p.loaded, SentFile) for p in sent)
    assert all(type(e) is SentEvent for p in sent for e in p.loaded.events)  # type: ignore[union-attr]

    assert (
        _outcomes(outcomes)
        == _outcomes(expected)
        == [
            [
                ("rks_lean_01.03.2026.json", "processed", 2, 0, 1),
                ("ets_lean_01.03.2026.json", "processed", 1, 1, 1),
            ],
            [
                ("bwb_lean_02.03.2026.json", "processed", 1, 1, 1),
                ("del_lean_02.03.2026.json", "processed", 1, 1, 1),
            ],
            # its quarantined event found in the dead letters already, not written again
            [("ets_lean_01.03.2026.json", "archived", 0, 0, 0)],
        ]
    )
    got = _stored(migrated_engine)
    assert got[0] == reference[0]  # every column of every stored event, raw and record too
    assert got[1] == reference[1]
    assert got[2] == reference[2]
    stored_raw = {r["id"]: json.loads(r["raw_text"]) for r in got[0]}
    assert stored_raw["lean-2"]["note"] == "Eintrittfrei"  # json_safe drops the NUL
    assert stored_raw["lean-1"]["_zz"] == {"a": [1.5, None, "ü"], "b": 1}  # the first copy

    dead = _dead_letters(tmp_path / "lean" / "dead_letters")
    assert dead == _dead_letters(tmp_path / "whole" / "dead_letters")
    # the quarantined copies exactly as in their files, key order included
    quarantined = {
        name: [json.dumps(e) for e in content["events"]]
        for name, content in dead.items()
        if not name.endswith(".error.json")
    }
    assert quarantined == {
        "rks_lean_01.03.2026.rejected.json": [json.dumps(BATCHES[0][0][1]["events"][2])],
        "ets_lean_01.03.2026.rejected.json": [json.dumps(BATCHES[0][1][1]["events"][1])],
        "bwb_lean_02.03.2026.rejected.json": [json.dumps(BATCHES[1][0][1]["events"][1])],
        "del_lean_02.03.2026.rejected.json": [json.dumps(BATCHES[1][1][1]["events"][0])],
    }


def test_after_a_configuration_change_a_lean_file_is_prepared_again_from_its_bytes(
    tmp_path: Path, migrated_engine: sa.Engine
) -> None:
    """The configuration changes between parsing ahead and committing: the records made
    ahead are not used, the events are parsed again in full and prepared with the new one."""
    base = load_matching_config(None)
    stopwords = (*base.normalization.stopwords, "rathaus")
    changed = attrs.evolve(
        base, normalization=attrs.evolve(base.normalization, stopwords=stopwords)
    )

    def run(root: Path, parse_with: Callable[[FileProcessor], Callable[[Path], ParsedFile]]) -> Any:
        processor = file_processor(migrated_engine, root, DbDeduplicator(base))
        inbox = root / "inbox"
        inbox.mkdir(parents=True)
        parsed = []
        for name, content in BATCHES[0]:
            (inbox / name).write_text(json.dumps(content, ensure_ascii=False))
            parsed.append(parse_with(processor)(inbox / name))
        assert processor.deduplicator is not None
        processor.deduplicator.cfg = changed  # type: ignore[attr-defined]
        outcomes = processor.commit_batch(parsed)
        return parsed, _outcomes([outcomes]), _stored(migrated_engine)

    _, expected, reference = run(tmp_path / "whole", lambda p: p.parse)
    _start_over(migrated_engine)
    sent, outcomes, got = run(tmp_path / "lean", _handed_over)
    assert outcomes == expected
    assert got == reference
    # the stored records are the new configuration's: the events were parsed again in full
    tokens = {r["id"]: json.loads(r["record_text"])["title_tokens"] for r in got[0]}
    assert "rathaus" in prepare_event(whole_event(sent[0], "lean-1"), base).title_tokens
    assert "rathaus" not in tokens["lean-1"] and "lesung" in tokens["lean-1"]


def whole_event(parsed: ParsedFile, event_id: str) -> SourceEvent:
    assert isinstance(parsed.loaded, SentFile)
    return next(e for e in parsed.loaded.in_full().events if e.id == event_id)
