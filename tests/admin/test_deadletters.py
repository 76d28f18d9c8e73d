"""The dead-letter listing, straight from a real folder (no daemon needed)."""

from __future__ import annotations

import json
from pathlib import Path

from eventdedup.admin.deadletters import NO_SIDECAR, count_dead_letters, list_dead_letters
from eventdedup.ingest.files import ERROR_SUFFIX


def test_listed_by_file_so_a_missing_sidecar_hides_nothing(tmp_path: Path) -> None:
    dead = tmp_path / "dead"
    dead.mkdir()
    (dead / "abc_with.json").write_text("{")
    (dead / ("abc_with.json" + ERROR_SUFFIX)).write_text(
        json.dumps(
            {"file": "abc_with.json", "reason": "invalid JSON", "at": "2026-11-26T10:00:00+00:00"}
        )
    )
    (dead / "abc_without.json").write_text("{")  # a stop between the move and the sidecar
    (dead / ("abc_retried.json" + ERROR_SUFFIX)).write_text("{}")  # its file went back
    (dead / ".abc.1234.tmp").write_text("")  # a move or sidecar in progress
    (dead / "abc_link.json").symlink_to(tmp_path / "elsewhere.json")
    (dead / ("abc_link.json" + ERROR_SUFFIX)).write_text(
        json.dumps({"reason": "not a regular file (symlinks are never followed)"})
    )
    (dead / "abc_bad_sidecar.json").write_text("[]")
    (dead / ("abc_bad_sidecar.json" + ERROR_SUFFIX)).write_text("not json")

    listed = {i["file"]: i for i in list_dead_letters(dead)["items"]}
    assert set(listed) == {
        "abc_with.json",
        "abc_without.json",
        "abc_link.json",
        "abc_bad_sidecar.json",
    }
    assert listed["abc_with.json"]["reason"] == "invalid JSON"
    assert listed["abc_without.json"]["reason"] == NO_SIDECAR
    assert listed["abc_without.json"]["at"], "falls back to the file's time"
    assert listed["abc_link.json"]["reason"].startswith("not a regular file")
    assert listed["abc_bad_sidecar.json"]["reason"] is None
    assert count_dead_letters(dead) == 4
    assert list_dead_letters(tmp_path / "missing") == {"items": [], "total": 0}
