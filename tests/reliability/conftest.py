"""Fixtures for the fault-injection tests: a fork server for fast daemon restarts, a seed."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.reliability._daemon import Zygote


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    """The pre-imported fork server (see ``_zygote.py``); started once per session."""
    server = Zygote()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def seed() -> int:
    """The RNG seed of the randomized fault tests; ``RELIABILITY_SEED`` reproduces a run."""
    value = int(os.environ.get("RELIABILITY_SEED", "20260207"))
    print(f"RELIABILITY_SEED={value}")
    return value


_FIGURES: dict[str, Any] = {}


@pytest.fixture
def figures() -> dict[str, Any]:
    """Measured figures (docs/reliability.md); printed at the end of the run."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("reliability figures")
        for key in sorted(_FIGURES):
            terminalreporter.write_line(f"{key} = {_FIGURES[key]}")
