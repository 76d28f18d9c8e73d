"""Bounded waits until a condition holds, for plain, trio and Textual (asyncio) tests.

Each polls ``predicate`` every ``interval`` seconds and fails with an
``AssertionError`` naming ``what`` once ``within`` seconds have passed. The
bounds only catch hangs: they are generous, and nothing asserts how fast a
condition came true.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")


def _timed_out(within: float, what: str) -> AssertionError:
    return AssertionError(f"timed out after {within} s waiting for {what}")


def wait_until(predicate: Callable[[], T], within: float, what: str, interval: float = 0.1) -> T:
    """Block until ``predicate()`` is truthy; returns that value."""
    deadline = time.monotonic() + within
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(within, what)
        time.sleep(interval)


async def trio_wait_until(
    check: Callable[[], object],
    within: float = 10.0,
    what: str = "the condition",
    interval: float = 0.02,
) -> None:
    """In a trio test, until a cheap, non-blocking ``check()`` holds (e.g. a file exists)."""
    deadline = trio.current_time() + within
    while not check():
        if trio.current_time() > deadline:
            raise _timed_out(within, what)
        await trio.sleep(interval)


async def trio_wait_until_threaded(
    predicate: Callable[[], object], within: float, what: str, interval: float = 0.1
) -> float:
    """In a trio test, until a blocking ``predicate()`` (run in a worker thread) holds.

    Returns the seconds it took, for tests that report it as a figure.
    """
    started = trio.current_time()
    while not await trio.to_thread.run_sync(predicate):
        if trio.current_time() - started > within:
            raise _timed_out(within, what)
        await trio.sleep(interval)
    return trio.current_time() - started


async def pilot_wait_until(
    pilot: Any, condition: Callable[[], T], within: float = 20.0, what: str = "the condition"
) -> T:
    """In a Textual test, poll ``condition`` between UI frames; the app keeps running meanwhile.

    ``pilot`` is the ``textual.pilot.Pilot`` of the app under test.
    """
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise _timed_out(within, what)
        await pilot.pause(0.1)
        await asyncio.sleep(0)
