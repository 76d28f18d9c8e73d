"""The inbox count of `status` and the metrics counts what the watcher would take."""

from __future__ import annotations

import os
from pathlib import Path

from eventdedup.admin.context import count_inbox
from eventdedup.ingest.files import backlog_files


def test_count_inbox_counts_the_watchers_listing(tmp_path: Path) -> None:
    (tmp_path / "a_01.01.2026_2026-01-01T10-00-00-000Z.json").write_text("[]")
    (tmp_path / "b.json").symlink_to(tmp_path / "elsewhere.json")  # dead-lettered unread
    (tmp_path / "folder.json").mkdir()
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / ".hidden.json").write_text("[]")
    (tmp_path / "c.json.part").write_text("[")

    assert count_inbox(tmp_path) == len(backlog_files(tmp_path)) == 2


def test_a_missing_inbox_counts_nothing(tmp_path: Path) -> None:
    assert count_inbox(tmp_path / "gone") == 0
