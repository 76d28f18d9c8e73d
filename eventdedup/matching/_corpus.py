"""The dev corpus for tests and the benchmark: its files, truth and look-alike families.

Events are read with the production loader (``eventdedup.ingest``), so the
quality figures describe exactly what the daemon ingests.  The corpus lies in
``shared/`` beside the repository, wherever the checkout is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventdedup.ingest.loader import load_file as load_event_file
from eventdedup.model import SourceEvent

DEV_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "dev"


def load_file(path: Path) -> list[SourceEvent]:
    """The events of one corpus file, read by the daemon's own loader."""
    return list(load_event_file(path.read_bytes(), path.name).events)


def corpus_files(root: Path = DEV_CORPUS) -> list[Path]:
    return sorted(p for p in root.glob("*_*.json") if p.is_file())


def load_corpus(root: Path = DEV_CORPUS) -> dict[str, list[SourceEvent]]:
    """file name -> events, in sorted file order."""
    return {p.name: load_file(p) for p in corpus_files(root)}


def load_truth(root: Path = DEV_CORPUS) -> dict[str, str]:
    return json.loads((root / "truth.json").read_text(encoding="utf-8"))


def load_families(root: Path = DEV_CORPUS) -> dict[str, dict[str, Any]]:
    out = {}
    for line in (root / "families.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out[row["id"]] = row
    return out
