"""Helpers for testing supervised code, in the spirit of :mod:`trio.testing`.

:class:`FakeChild` is a scriptable child whose every incarnation follows a
:class:`Step` (become ready after *t* seconds, then run / crash / return) and
which can also be poked from the test (:meth:`FakeChild.crash`,
:meth:`FakeChild.finish`). Everything it does is appended, with
:func:`trio.current_time` timestamps, to an :class:`EventLog` that several
fake children can share, so a test can assert start/stop *order and timing*.
Combine with ``trio.testing.MockClock(autojump_threshold=0)`` (pytest-trio's
``autojump_clock`` fixture) for instant, deterministic runs::

    log = EventLog()
    db = FakeChild("db", log, default=Step.run(ready_after=1))
    sup = Supervisor([db.spec()])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import attrs
import trio

from ._spec import ChildSpec, Restart

__all__ = ["EventLog", "FakeChild", "FakeChildError", "LogEntry", "Step"]


class FakeChildError(Exception):
    """What a :class:`FakeChild` raises when it crashes."""


@attrs.frozen
class LogEntry:
    time: float
    child: str
    what: str


@attrs.define
class EventLog:
    """Timestamped record of what fake children did.

    ``what`` is one of: ``start``, ``ready``, ``crash``, ``return``,
    ``cancelled`` (cancellation delivered), ``exit`` (left after cancellation,
    i.e. cleanup done).
    """

    entries: list[LogEntry] = attrs.Factory(list)

    def record(self, child: str, what: str) -> None:
        self.entries.append(LogEntry(trio.current_time(), child, what))

    def of(self, what: str) -> list[str]:
        """Children that did ``what``, in order (with repeats)."""
        return [e.child for e in self.entries if e.what == what]

    def times(self, child: str, what: str) -> list[float]:
        """When ``child`` did ``what``, in order."""
        return [e.time for e in self.entries if e.child == child and e.what == what]

    def events(self) -> list[tuple[str, str]]:
        """``(child, what)`` pairs in order, without times."""
        return [(e.child, e.what) for e in self.entries]


@attrs.frozen
class Step:
    """Script for one incarnation of a :class:`FakeChild`.

    ``ready_after`` seconds after start it calls ``task_status.started()``
    (never, if None). Then - or right at start if it never becomes ready -
    ``then`` decides: ``"run"`` until cancelled or poked, or ``"crash"`` /
    ``"return"`` after ``after`` seconds. ``cleanup`` seconds of shielded
    cleanup run when it is cancelled (a child that is slow to die).
    """

    ready_after: float | None = 0.0
    then: Literal["run", "crash", "return"] = "run"
    after: float = 0.0
    message: str = "boom"
    cleanup: float = 0.0

    @classmethod
    def run(cls, ready_after: float = 0.0, *, cleanup: float = 0.0) -> Step:
        return cls(ready_after=ready_after, then="run", cleanup=cleanup)

    @classmethod
    def crash(
        cls,
        after: float = 0.0,
        *,
        ready_after: float | None = 0.0,
        message: str = "boom",
    ) -> Step:
        """Crash ``after`` seconds after readiness; pass ``ready_after=None``
        to crash before ever becoming ready."""
        return cls(ready_after=ready_after, then="crash", after=after, message=message)

    @classmethod
    def complete(cls, after: float = 0.0, *, ready_after: float | None = 0.0) -> Step:
        """Become ready, then return normally ``after`` seconds later."""
        return cls(ready_after=ready_after, then="return", after=after)


class _Finish(Exception):
    pass


class FakeChild:
    """A controllable child; pass :meth:`spec` to a Supervisor.

    Incarnation *n* (1-based) follows ``plan[n-1]``, or ``default`` once the
    plan is exhausted.
    """

    def __init__(
        self,
        name: str,
        log: EventLog | None = None,
        *,
        plan: Sequence[Step] = (),
        default: Step = Step(),  # frozen, so sharing the default is fine
    ) -> None:
        self.name = name
        self.log = log if log is not None else EventLog()
        self.plan = list(plan)
        self.default = default
        #: How many times it has been started.
        self.starts = 0
        #: Whether an incarnation is currently running.
        self.running = False
        self._poke = trio.Event()
        self._command: BaseException | None = None

    def spec(
        self, restart: Restart = Restart.PERMANENT, shutdown_timeout: float = 5.0
    ) -> ChildSpec:
        return ChildSpec(
            name=self.name, start=self, restart=restart, shutdown_timeout=shutdown_timeout
        )

    def crash(self, message: str = "crashed on request") -> None:
        """Make the running incarnation raise FakeChildError(message)."""
        self._send(FakeChildError(message))

    def finish(self) -> None:
        """Make the running incarnation return normally."""
        self._send(_Finish())

    def _send(self, command: BaseException) -> None:
        if not self.running:
            raise RuntimeError(f"{self.name} is not running")
        self._command = command
        self._poke.set()

    async def _pause(self, seconds: float) -> None:
        with trio.move_on_after(seconds):
            await self._poke.wait()
        command, self._command = self._command, None
        if command is not None:
            self._poke = trio.Event()
            if isinstance(command, FakeChildError):
                self.log.record(self.name, "crash")
            raise command

    async def __call__(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        step = self.plan[self.starts] if self.starts < len(self.plan) else self.default
        self.starts += 1
        self.running = True
        self._command = None
        self._poke = trio.Event()
        self.log.record(self.name, "start")
        try:
            if step.ready_after is not None:
                await self._pause(step.ready_after)
                self.log.record(self.name, "ready")
                task_status.started()
            if step.then == "run":
                await self._pause(math.inf)
            await self._pause(step.after)
            if step.then == "crash":
                self.log.record(self.name, "crash")
                raise FakeChildError(f"{self.name}: {step.message}")
            self.log.record(self.name, "return")
        except _Finish:
            self.log.record(self.name, "return")
        except trio.Cancelled:
            self.log.record(self.name, "cancelled")
            if step.cleanup:
                with trio.CancelScope(shield=True):
                    await trio.sleep(step.cleanup)
            self.log.record(self.name, "exit")
            raise
        finally:
            self.running = False
