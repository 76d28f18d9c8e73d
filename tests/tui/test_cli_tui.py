"""``eventdedup tui``: where the token comes from (the app itself is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from eventdedup.cli import _tui_token, main
from eventdedup.config import load_settings


def test_token_precedence(tmp_path: Path) -> None:
    data = tmp_path / "state"
    data.mkdir()
    (data / "admin_token").write_text("generated\n")
    given = tmp_path / "given"
    given.write_text("from-file\n")
    settings = load_settings(environ={}, data_dir=data)
    assert _tui_token(settings, None) == "generated"
    assert _tui_token(settings, given) == "from-file"
    with_env = load_settings(environ={"EVENT_DEDUP_ADMIN_TOKEN": "from-env"}, data_dir=data)
    assert _tui_token(with_env, None) == "from-env"
    assert _tui_token(with_env, given) == "from-file"
    with pytest.raises(click.UsageError):
        _tui_token(settings, tmp_path / "missing")


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["tui", "--help"])
    assert result.exit_code == 0
    assert "--url" in result.output and "--token-file" in result.output
