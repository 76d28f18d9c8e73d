"""Render the screenshots (docs/tui.md) of ``eventdedup tui`` from the canned demo data.

    uv run python ops/tui_screenshots.py [OUTPUT_DIR]   # default: docs/screenshots

No daemon needed: the console runs on :class:`tui.fake.FakeBackend` with the
fixed data and clock of :mod:`tui.demo`, so the SVGs only change when the UI
does (the same data backs the snapshot tests in tests/tui/).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tui import demo
from tui.app import ConsoleApp

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 36)

#: file name → keys pressed after start ("_" = let the UI settle)
SHOTS: dict[str, list[str]] = {
    "dashboard": [],
    "events": ["3", "_", "down", "down", "down", "enter", "_"],
    "review": ["4", "_", "_"],
}


async def render(keys: list[str]) -> str:
    app = ConsoleApp(demo.demo_backend(), clock=demo.clock, operator="tui:demo", blink=False)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        for key in keys:
            if key == "_":
                await pilot.pause(0.1)
            else:
                await pilot.press(key)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(title="eventdedup tui")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, keys in SHOTS.items():
        path = out / f"{name}.svg"
        path.write_text(asyncio.run(render(keys)), encoding="utf-8")
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots")
