"""Helpers for tests and benchmarks: the sample corpus with its truth.

Like ``trio.testing``: code that tests and benchmarks share, kept out of the
pure matching core.  Events are read with the daemon's own loader
(``eventdedup.ingest``), so quality figures describe exactly what the daemon
ingests.  The sample corpus lives in the repository's ``examples/corpus/``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventdedup.ingest.loader import load_file as load_event_file
from eventdedup.model import SourceEvent

SAMPLE_CORPUS = Path(__file__).resolve().parents[1] / "examples" / "corpus"


def load_file(path: Path) -> list[SourceEvent]:
    """The events of one corpus file, read by the daemon's own loader."""
    return list(load_event_file(path.read_bytes(), path.name).events)


def corpus_files(root: Path = SAMPLE_CORPUS) -> list[Path]:
    """The event files of a corpus (``<source>_<date>_<stamp>.json``), sorted by name."""
    return sorted(p for p in root.glob("*_*.json") if p.is_file())


def load_corpus(root: Path = SAMPLE_CORPUS) -> dict[str, list[SourceEvent]]:
    """file name -> events, in sorted file order."""
    return {p.name: load_file(p) for p in corpus_files(root)}


def load_truth(root: Path = SAMPLE_CORPUS) -> dict[str, str]:
    """event id -> key of the real-world event it describes."""
    truth: dict[str, str] = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    return truth


def load_families(root: Path = SAMPLE_CORPUS) -> dict[str, dict[str, Any]]:
    """event id -> its look-alike annotation (``family``, ``group``, ``var``)."""
    out = {}
    for line in (root / "families.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = row
    return out
