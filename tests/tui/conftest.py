"""Fixtures of the TUI tests: a real daemon in a background thread (its own ``trio.run``).

Textual runs on asyncio and the daemon on trio; they cannot share a loop, so
the daemon gets a thread, and the test talks to it like any client would:
over its loopback port.  Stopping it and starting a new one on the same port
and database is how the tests simulate a daemon restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from multiprocessing import resource_tracker
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventdedup.config import Settings
from tests.daemon.harness import make_settings
from tests.tui.helpers import DaemonThread


@pytest.fixture
def tui_settings(tmp_path: Path, migrated_engine: sa.Engine, database_url: str) -> Settings:
    # a fixed token: used if the daemon checks tokens, harmless while it does not
    return make_settings(tmp_path, database_url, admin_token="tui-test-token")


@pytest.fixture
def daemon_thread(tui_settings: Settings) -> Iterator[DaemonThread]:
    # The daemon's parse workers are spawned by multiprocessing, whose resource
    # tracker is started on first use with ``sys.stderr.fileno()`` among the fds
    # to keep.  While a Textual app runs in this process, ``sys.stderr`` is its
    # capture object, whose fileno is -1, and that start fails.  Start it first.
    resource_tracker.ensure_running()
    thread = DaemonThread(tui_settings).start()
    try:
        yield thread
    finally:
        thread.stop()
