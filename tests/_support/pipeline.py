"""The daemon's file pipeline, built the way the daemon builds it, for tests without a daemon."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from eventdedup.db.dedup import DbDeduplicator
from eventdedup.matching import load_matching_config
from eventdedup.pipeline import FileProcessor


def file_processor(
    engine: sa.Engine, root: Path, deduplicator: DbDeduplicator | None = None
) -> FileProcessor:
    """A ``FileProcessor`` moving files to ``root/archive`` and ``root/dead_letters``.

    Without ``deduplicator``, a ``DbDeduplicator`` with the packaged matching defaults.
    """
    return FileProcessor(
        engine=engine,
        archive_dir=root / "archive",
        dead_letter_dir=root / "dead_letters",
        deduplicator=deduplicator or DbDeduplicator(load_matching_config(None)),
    )
