"""The console keeps the operator's theme in a small file in the user's config dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui import demo, preferences
from tui.app import ConsoleApp


def _app(path: Path | None) -> ConsoleApp:
    return ConsoleApp(demo.demo_backend(connected=True), clock=demo.clock, preferences=path)


def test_the_file_lives_in_the_xdg_config_dir(tmp_path: Path) -> None:
    assert preferences.default_path({"XDG_CONFIG_HOME": str(tmp_path)}) == (
        tmp_path / "eventdedup" / "console.toml"
    )
    assert preferences.default_path({"HOME": "/home/op"}) == Path(
        "/home/op/.config/eventdedup/console.toml"
    )


@pytest.mark.asyncio
async def test_a_chosen_theme_comes_back_next_time(tmp_path: Path) -> None:
    path = tmp_path / "config" / "eventdedup" / "console.toml"
    first = _app(path)
    async with first.run_test() as pilot:
        default = first.theme
        assert not path.exists(), "nothing is written before the operator picks something"
        chosen = next(t for t in sorted(first.available_themes) if t != default)
        first.theme = chosen
        await pilot.pause()
    assert preferences.load(path) == {"theme": chosen}

    second = _app(path)
    async with second.run_test() as pilot:
        await pilot.pause()
        assert second.theme == chosen

    untouched = _app(None)  # tests and snapshots: no file is read or written
    async with untouched.run_test() as pilot:
        await pilot.pause()
        assert untouched.theme == default


@pytest.mark.asyncio
async def test_a_broken_or_unknown_preference_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "console.toml"
    for content in ('theme = "no-such-theme"\n', "theme = [unterminated\n", "\xff\xfe"):
        path.write_text(content, encoding="latin-1")
        app = _app(path)
        async with app.run_test() as pilot:
            await pilot.pause()
            assert app.theme == _app(None).theme


def test_saving_keeps_other_keys_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "console.toml"
    path.write_text('other = "kept"\ntheme = "nord"\n')
    preferences.save(path, theme="gruvbox")
    assert preferences.load(path) == {"other": "kept", "theme": "gruvbox"}
    assert [p.name for p in tmp_path.iterdir()] == ["console.toml"], "no temp file left"
