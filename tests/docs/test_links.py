"""Every relative link in the project's Markdown points to a file that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "ARCHITECTURE.md",
        ROOT / "CONTRIBUTING.md",
        *(ROOT / "docs").glob("**/*.md"),
        *(ROOT / "examples").glob("**/*.md"),
    ]
)

#: ``[text](target)`` and ``![alt](target)``; code spans are removed first.
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def relative_links(markdown: str) -> list[str]:
    """Link targets that point into the repository (no scheme, no bare anchor)."""
    targets = _LINK.findall(_CODE.sub("", markdown))
    return [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_the_link_pattern_finds_relative_links_only() -> None:
    text = "[a](docs/x.md) ![b](img.svg) [c](https://x.org) [d](#top) `[e](no.md)` [f](y.md#s)"
    assert relative_links(text) == ["docs/x.md", "img.svg", "y.md#s"]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(document: Path) -> None:
    broken = [
        target
        for target in relative_links(document.read_text(encoding="utf-8"))
        if not (document.parent / target.split("#", 1)[0]).exists()
    ]
    assert broken == [], f"{document.relative_to(ROOT)} links to missing files: {broken}"


def test_nothing_points_outside_the_repository() -> None:
    for document in DOCUMENTS:
        for target in relative_links(document.read_text(encoding="utf-8")):
            resolved = (document.parent / target.split("#", 1)[0]).resolve()
            assert resolved.is_relative_to(ROOT), (document, target)
