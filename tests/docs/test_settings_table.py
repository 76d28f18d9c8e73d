"""docs/configuration.md shows exactly the settings that ``Settings`` declares."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventdedup import settings_doc
from eventdedup.config import settings_fields


def test_configuration_doc_table_matches_settings() -> None:
    document = settings_doc.DOC_PATH.read_text(encoding="utf-8")
    assert settings_doc.with_table(document) == document, (
        "docs/configuration.md is stale: run `uv run python -m eventdedup.settings_doc`"
    )


def test_table_names_every_setting_with_its_default_and_help() -> None:
    table = settings_doc.render_table()
    rows = table.splitlines()[2:]
    assert len(rows) == len(settings_fields())
    for row, field in zip(rows, settings_fields(), strict=True):
        assert row.startswith(f"| `{field.metadata['env']}` |")
    assert "| `EVENT_DEDUP_LOG_LEVEL` | `INFO` | DEBUG, INFO, WARNING, ERROR or CRITICAL. |" in rows
    assert "&lt;name&gt;.error.json" in table


def test_check_reports_a_stale_table_and_regeneration_fixes_it(tmp_path: Path) -> None:
    doc = tmp_path / "configuration.md"
    doc.write_text(
        f"# Settings\n\n{settings_doc.BEGIN}\n| old | table |\n{settings_doc.END}\n\nafter\n",
        encoding="utf-8",
    )
    assert settings_doc.main(["--check", "--path", str(doc)]) == 1
    assert settings_doc.main(["--path", str(doc)]) == 0
    regenerated = doc.read_text(encoding="utf-8")
    assert settings_doc.render_table() in regenerated
    assert regenerated.startswith("# Settings\n") and regenerated.endswith("\nafter\n")
    assert settings_doc.main(["--check", "--path", str(doc)]) == 0


def test_missing_markers_are_an_error_not_a_silent_pass() -> None:
    with pytest.raises(settings_doc.TableMarkersMissing):
        settings_doc.with_table("# no table here\n")
