"""The supervisor: one trio task driving a state machine over child tasks.

Design notes (the *why*):

* **One decision-maker.** Every decision (start, restart, stop, escalate) is
  taken by the task running :meth:`Supervisor.run`, one event at a time. Child
  tasks, :meth:`Supervisor.stop` and :meth:`Supervisor.restart_child` only
  *post* events to an unbounded memory channel. That keeps the logic free of
  races: while the supervisor is busy stopping a sibling, a second crash simply
  waits in the queue and is handled afterwards with an up-to-date view.

* **Children are trio system tasks.** trio cannot kill a task that shields
  itself from cancellation, so the only way to honour ``shutdown_timeout``
  for a child stuck in a shielded cleanup is to *stop waiting for it*. A task
  in an ordinary nursery cannot be left behind - the nursery waits for it -
  so each child runs in a system task (:func:`trio.lowlevel.spawn_system_task`)
  wrapped in its own :class:`trio.CancelScope`. The wrapper never lets an
  exception escape (a crashing system task would take down the whole run);
  it records the outcome and posts it to the supervisor instead. Structured
  concurrency is preserved by :meth:`Supervisor.run` itself: it never returns
  or raises - not even when it is cancelled from outside - before every child
  has exited or been abandoned after its ``shutdown_timeout``.

* **Trio's clock for decisions, wall clock for display.** Backoff, intensity
  and timeouts use :func:`trio.current_time` so :class:`trio.testing.MockClock`
  can drive them; ``datetime`` values exist only in :class:`ChildStatus`.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import functools
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs
import trio

from ._backoff import Backoff
from ._spec import ChildSpec, Restart, Strategy
from ._status import ChildState, ChildStatus

__all__ = ["Supervisor", "SupervisorEscalation"]

logger = logging.getLogger("supervisor")

#: The child has a live task that the supervisor has not asked to stop.
_ALIVE = frozenset({ChildState.STARTING, ChildState.RUNNING})
#: States that do not hold back the start of later children.
_SETTLED = frozenset(
    {ChildState.RUNNING, ChildState.COMPLETED, ChildState.FAILED, ChildState.STOPPED}
)


class SupervisorEscalation(Exception):
    """Raised by :meth:`Supervisor.run` when children restart too often.

    Like an OTP supervisor, this one gives up when more than ``max_restarts``
    restarts happen within ``max_seconds``: a child that keeps failing is
    better handled one level up (ultimately: the process exits non-zero and
    the service manager restarts it with a clean slate). By the time this is
    raised all children have been stopped. ``__cause__`` is the exception of
    the child's last crash (None if it returned normally).
    """

    def __init__(
        self,
        message: str,
        *,
        child: str,
        restarts: int,
        max_restarts: int,
        max_seconds: float,
    ) -> None:
        super().__init__(message)
        #: Name of the child whose exit exceeded the restart intensity.
        self.child = child
        #: Restarts counted within the window, including the refused one.
        self.restarts = restarts
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only attributes are not in self.args; keep pickling working.
        rebuild = functools.partial(
            type(self),
            child=self.child,
            restarts=self.restarts,
            max_restarts=self.max_restarts,
            max_seconds=self.max_seconds,
        )
        return (rebuild, self.args)


def _describe(exc: BaseException) -> str:
    """``Type: message`` of the error that matters.

    A child that runs its own nursery fails with an exception group around the
    real error; with a single leaf, the leaf is what an operator needs to read.
    """
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Phase(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    ESCALATED = "escalated"


@attrs.define(eq=False)
class _Incarnation:
    """One start of a child: its task's cancel scope and outcome."""

    cancel_scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    done: trio.Event = attrs.Factory(trio.Event)
    error: BaseException | None = None
    abandoned: bool = False


@attrs.define(eq=False)
class _Child:
    """The supervisor's private, mutable record for one ChildSpec."""

    spec: ChildSpec
    index: int
    state: ChildState = ChildState.PENDING
    restarts: int = 0
    launches: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    since: datetime | None = None
    consecutive_failures: int = 0
    #: trio time at which the current incarnation called started().
    ready_at: float | None = None
    #: trio time at which a BACKING_OFF child may be started again.
    restart_at: float = math.inf
    incarnation: _Incarnation | None = None


@attrs.frozen(eq=False)
class _Ready:
    child: _Child
    incarnation: _Incarnation


@attrs.frozen(eq=False)
class _Exited:
    child: _Child
    incarnation: _Incarnation


@attrs.frozen(eq=False)
class _RestartRequest:
    child: _Child


@attrs.frozen(eq=False)
class _Wakeup:
    """Posted by stop(): the loop re-checks its stop flag."""


_Event = _Ready | _Exited | _RestartRequest | _Wakeup


class _ChildTaskStatus(trio.TaskStatus[object]):
    """The ``task_status`` handed to a child: reports readiness to the loop."""

    __slots__ = ("_called", "_on_started")

    def __init__(self, on_started: Callable[[], None]) -> None:
        self._on_started = on_started
        self._called = False

    def started(self, value: object = None) -> None:
        if self._called:
            raise RuntimeError("called 'started' twice on the same task status")
        self._called = True
        self._on_started()


class Supervisor:
    """Start children in order, restart them per policy, stop them in reverse.

    Args:
      children: The child specs, in start order. Names must be unique.
      strategy: Which siblings are restarted along with an exited child.
      max_restarts, max_seconds: Restart intensity. More than
        ``max_restarts`` restarts (summed over all children) within the last
        ``max_seconds`` make :meth:`run` stop everything and raise
        :class:`SupervisorEscalation`. The defaults are OTP's (1 in 5 s).
      backoff_initial, backoff_max, backoff_multiplier, jitter: Delay before
        a child is restarted, growing with its consecutive failures, see
        :class:`~supervisor.Backoff`. A child's failure count is reset when it
        crashes after having been ready for at least ``backoff_max`` seconds.
      on_change: Called synchronously, in the supervisor's task, with a
        :class:`ChildStatus` after every state change. Exceptions it raises
        are logged and swallowed so an observer cannot break supervision.
        Keep it quick and non-blocking (e.g. ``send_nowait`` to a channel).
      rng: Source of jitter; pass a seeded :class:`random.Random` for
        reproducible delays.
      name: Used in log messages and task names.

    Ordering rule: a child is (re)started only when every child before it is
    RUNNING, COMPLETED, FAILED or STOPPED - i.e. not starting, not waiting to
    be restarted. This holds for the initial start and for every restart.

    All methods must be called from the trio thread running :meth:`run`
    (use :func:`trio.from_thread.run_sync` from other threads).
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 1,
        max_seconds: float = 5.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 10.0,
        backoff_multiplier: float = 2.0,
        jitter: float = 0.1,
        on_change: Callable[[ChildStatus], None] | None = None,
        rng: random.Random | None = None,
        name: str = "supervisor",
    ) -> None:
        specs = list(children)
        for spec in specs:
            if not isinstance(spec, ChildSpec):
                raise TypeError(f"expected ChildSpec, got {spec!r}")
        names = [spec.name for spec in specs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate child names: {duplicates}")
        if not isinstance(strategy, Strategy):
            raise TypeError(f"expected Strategy, got {strategy!r}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")

        self._name = name
        self._strategy = strategy
        self._max_restarts = max_restarts
        self._max_seconds = max_seconds
        self._backoff = Backoff(
            initial=backoff_initial,
            maximum=backoff_max,
            multiplier=backoff_multiplier,
            jitter=jitter,
        )
        self._on_change = on_change
        self._rng = rng if rng is not None else random.Random()

        self._children = [_Child(spec=spec, index=i) for i, spec in enumerate(specs)]
        self._by_name = {child.spec.name: child for child in self._children}
        self._phase = _Phase.NEW
        self._stop_requested = False
        self._events: trio.MemorySendChannel[_Event] | None = None
        self._restart_times: deque[float] = deque()
        self._abandoned: list[tuple[_Child, _Incarnation]] = []
        self._subscribers: list[trio.MemorySendChannel[ChildStatus]] = []

    def __repr__(self) -> str:
        return f"<Supervisor {self._name!r} {self._phase.value}, {len(self._children)} children>"

    # ------------------------------------------------------------------ public

    @property
    def name(self) -> str:
        return self._name

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Supervise the children until :meth:`stop` or an escalation.

        Children are started in order, each only after the previous one called
        ``task_status.started()`` (or finished for good). This method's own
        ``task_status.started()`` is called once all of them have, so
        ``await nursery.start(sup.run)`` returns when the whole tree is up.

        Returns normally after :meth:`stop`. Raises
        :class:`SupervisorEscalation` when the restart intensity is exceeded.
        Either way - and also when this task is cancelled from outside -
        every child is stopped first, in reverse start order, each within its
        ``shutdown_timeout`` (the final shutdown is shielded, so an outside
        cancellation cannot cut it short; it is bounded by the sum of the
        timeouts). If :meth:`stop` is called before the tree is ready, this
        returns without calling ``task_status.started()``, which
        ``nursery.start`` reports as a RuntimeError.

        A supervisor runs once; create a new one to run again.
        """
        if self._phase is not _Phase.NEW:
            raise RuntimeError(f"{self._name}: run() can only be called once")
        send, receive = trio.open_memory_channel[_Event](math.inf)
        self._events = send
        self._phase = _Phase.STARTING
        logger.info("%s: starting %d children", self._name, len(self._children))
        try:
            await self._loop(receive, task_status)
        finally:
            if self._phase is not _Phase.ESCALATED:
                self._phase = _Phase.STOPPING
            try:
                with trio.CancelScope(shield=True):
                    await self._stop_all()
            finally:
                # Normally a no-op. If the orderly shutdown itself was
                # interrupted (a second Ctrl-C delivers KeyboardInterrupt even
                # into shielded code), at least cancel whoever is left.
                for child in self._children:
                    if child.incarnation is not None:
                        child.incarnation.cancel_scope.cancel()
                self._events = None
                send.close()
                receive.close()
                if self._phase is _Phase.STOPPING:
                    self._phase = _Phase.STOPPED
                self._close_subscribers()
            logger.info("%s: all children stopped", self._name)

    def status(self) -> list[ChildStatus]:
        """Snapshot of every child, in start order."""
        return [self._snapshot(child) for child in self._children]

    def healthy(self) -> bool:
        """True while running (not stopping, not escalated) with every
        PERMANENT child RUNNING. Transient/temporary children do not count."""
        return (
            self._phase in (_Phase.STARTING, _Phase.RUNNING)
            and not self._stop_requested
            and all(
                child.state is ChildState.RUNNING
                for child in self._children
                if child.spec.restart is Restart.PERMANENT
            )
        )

    def restart_child(self, name: str) -> None:
        """Ask for ``name`` to be stopped (if running) and started again now.

        Meant for operators: it bypasses any pending backoff, is not counted
        against the restart intensity, and re-runs even a COMPLETED or FAILED
        transient/temporary child. Under REST_FOR_ONE the children after it are
        restarted too (temporary ones are only stopped), exactly as for a
        crash. Asynchronous: the restart happens in the supervisor's task soon
        after this returns. A child that is already PENDING is left alone.

        Raises:
          KeyError: no child has that name.
          RuntimeError: :meth:`run` is not active (not started, stopping or
            finished).
        """
        try:
            child = self._by_name[name]
        except KeyError:
            raise KeyError(name) from None
        if self._phase not in (_Phase.STARTING, _Phase.RUNNING) or self._stop_requested:
            raise RuntimeError(f"{self._name}: not running (state {self._phase.value})")
        self._post(_RestartRequest(child))

    def stop(self) -> None:
        """Request a graceful shutdown; :meth:`run` returns once it is done.

        Children are cancelled one at a time in reverse start order. Each gets
        ``shutdown_timeout`` seconds after its cancellation to exit (enough for
        ``with trio.move_on_after(t, shield=True):`` cleanup blocks with
        ``t <= shutdown_timeout``). A child still running after that is
        *abandoned*: marked STOPPED with a ``ShutdownTimeout`` last_error, and
        the supervisor moves on to the next one. trio cannot forcibly kill a
        task that shields itself, so an abandoned child keeps running in the
        background (see :meth:`abandoned`) and :func:`trio.run` will still
        wait for it before returning.

        Idempotent; safe to call before :meth:`run` (which then returns at
        once without starting anything).
        """
        if self._stop_requested:
            return
        self._stop_requested = True
        logger.info("%s: stop requested", self._name)
        self._post(_Wakeup())

    def abandoned(self) -> list[str]:
        """Names of children abandoned after their shutdown_timeout that are
        still running. A daemon that needs a hard exit deadline can check this
        after :meth:`run` returned and, e.g., ``os._exit()``."""
        self._abandoned = [(c, inc) for c, inc in self._abandoned if not inc.done.is_set()]
        return [child.spec.name for child, _ in self._abandoned]

    def subscribe(self, max_buffer: int | float = 100) -> trio.MemoryReceiveChannel[ChildStatus]:
        """Receive every :class:`ChildStatus` published from now on.

        A convenience on top of the same notifications ``on_change`` gets.
        The channel is closed (``async for`` ends) when :meth:`run` finishes,
        and also when the subscriber falls more than ``max_buffer`` updates
        behind: a slow consumer is cut off rather than silently handed a stale
        view, so it can resubscribe and re-read :meth:`status`. Closing the
        receive end unsubscribes.
        """
        send, receive = trio.open_memory_channel[ChildStatus](max_buffer)
        if self._phase in (_Phase.STOPPED, _Phase.ESCALATED):
            send.close()
        else:
            self._subscribers.append(send)
        return receive

    # ------------------------------------------------------------- main loop

    async def _loop(
        self,
        receive: trio.MemoryReceiveChannel[_Event],
        task_status: trio.TaskStatus[None],
    ) -> None:
        announced = False
        while not self._stop_requested:
            self._launch_due_children()
            if not announced and all(c.state in _SETTLED for c in self._children):
                announced = True
                self._phase = _Phase.RUNNING
                logger.info("%s: all children ready", self._name)
                task_status.started()
            event: _Event | None = None
            with trio.move_on_at(self._next_restart_at()):
                event = await receive.receive()
            if event is not None:
                await self._handle(event)

    def _launch_due_children(self) -> None:
        """Start the first child that may start; later ones wait for it."""
        now = trio.current_time()
        for child in self._children:
            if child.state in _SETTLED:
                continue
            if child.state is ChildState.PENDING or (
                child.state is ChildState.BACKING_OFF and child.restart_at <= now
            ):
                self._launch(child)
            # Whatever it is doing (just launched, starting, backing off), an
            # unsettled child holds back every child after it.
            return

    def _next_restart_at(self) -> float:
        now = trio.current_time()
        return min(
            (
                c.restart_at
                for c in self._children
                if c.state is ChildState.BACKING_OFF and c.restart_at > now
            ),
            default=math.inf,
        )

    async def _handle(self, event: _Event) -> None:
        if isinstance(event, _Ready):
            child = event.child
            if event.incarnation is child.incarnation and child.state is ChildState.STARTING:
                child.ready_at = trio.current_time()
                self._transition(child, ChildState.RUNNING)
        elif isinstance(event, _Exited):
            child = event.child
            # Exits of incarnations we stopped ourselves are handled by
            # _stop_child; anything else stale is ignored.
            if event.incarnation is child.incarnation and child.state in _ALIVE:
                await self._on_exit(child, event.incarnation)
        elif isinstance(event, _RestartRequest):
            await self._on_restart_request(event.child)
        # _Wakeup: nothing to do, the loop re-checks the stop flag.

    # ------------------------------------------------------- child lifecycle

    def _launch(self, child: _Child) -> None:
        if child.launches:
            child.restarts += 1
        child.launches += 1
        incarnation = _Incarnation()
        child.incarnation = incarnation
        child.ready_at = None
        child.restart_at = math.inf
        self._transition(child, ChildState.STARTING)
        task_status = _ChildTaskStatus(functools.partial(self._post, _Ready(child, incarnation)))
        trio.lowlevel.spawn_system_task(
            self._child_main,
            child,
            incarnation,
            task_status,
            name=f"{self._name}/{child.spec.name}",
            # System tasks do not inherit context variables; give the child
            # the supervisor's, as nursery.start_soon would.
            context=contextvars.copy_context(),
        )

    async def _child_main(
        self, child: _Child, incarnation: _Incarnation, task_status: _ChildTaskStatus
    ) -> None:
        try:
            with incarnation.cancel_scope:
                await child.spec.start(task_status=task_status)
        except BaseException as exc:
            # A system task must never raise (trio would abort the whole run):
            # hand the outcome to the supervisor instead.
            incarnation.error = exc
        incarnation.done.set()
        if incarnation.abandoned:
            error = incarnation.error
            logger.warning(
                "%s: abandoned child %r has finally exited%s",
                self._name,
                child.spec.name,
                "" if error is None or isinstance(error, trio.Cancelled) else f": {error!r}",
            )
        self._post(_Exited(child, incarnation))

    async def _on_exit(self, child: _Child, incarnation: _Incarnation) -> None:
        error = incarnation.error
        name = child.spec.name
        if isinstance(error, trio.Cancelled):
            # Not our cancellation (ours is absorbed by the child's scope):
            # the whole trio run is being torn down. Nothing to restart.
            self._transition(child, ChildState.STOPPED)
            return
        if error is not None and not isinstance(error, Exception):
            # KeyboardInterrupt, SystemExit, ...: not ours to handle. run()'s
            # finally block stops the other children on the way out.
            self._transition(child, ChildState.FAILED, error=error)
            raise error

        policy = child.spec.restart
        if policy is Restart.TEMPORARY or (policy is Restart.TRANSIENT and error is None):
            if error is None:
                logger.info("%s: child %r completed", self._name, name)
                self._transition(child, ChildState.COMPLETED)
            else:
                logger.error(
                    "%s: temporary child %r failed: %s",
                    self._name,
                    name,
                    _describe(error),
                    exc_info=error,
                )
                self._transition(child, ChildState.FAILED, error=error)
            return

        now = trio.current_time()
        self._restart_times.append(now)
        while self._restart_times and now - self._restart_times[0] >= self._max_seconds:
            self._restart_times.popleft()
        count = len(self._restart_times)
        if count > self._max_restarts:
            self._phase = _Phase.ESCALATED
            self._transition(child, ChildState.FAILED, error=error)
            why = "returned" if error is None else f"crashed ({_describe(error)})"
            message = (
                f"{self._name}: child {name!r} {why}; {count} restarts within "
                f"{self._max_seconds:g} s exceed max_restarts={self._max_restarts}, giving up"
            )
            logger.error("%s", message)
            raise SupervisorEscalation(
                message,
                child=name,
                restarts=count,
                max_restarts=self._max_restarts,
                max_seconds=self._max_seconds,
            ) from error

        if child.ready_at is not None and now - child.ready_at >= self._backoff.maximum:
            # It was up long enough that this is a fresh problem, not a loop.
            child.consecutive_failures = 0
        child.consecutive_failures += 1
        delay = self._backoff.delay(child.consecutive_failures, self._rng)
        child.restart_at = now + delay
        if error is None:
            logger.warning(
                "%s: permanent child %r returned; restarting in %.3f s", self._name, name, delay
            )
        else:
            logger.warning(
                "%s: child %r crashed: %s; restarting in %.3f s",
                self._name,
                name,
                _describe(error),
                delay,
                exc_info=error,
            )
        self._transition(child, ChildState.BACKING_OFF, error=error)
        if self._strategy is Strategy.REST_FOR_ONE:
            await self._reset_later_children(child)

    async def _on_restart_request(self, child: _Child) -> None:
        if child.state in (ChildState.PENDING, ChildState.STOPPING):
            return
        logger.info("%s: restarting child %r on request", self._name, child.spec.name)
        if self._strategy is Strategy.REST_FOR_ONE:
            await self._reset_later_children(child)
        if child.state in _ALIVE:
            await self._stop_child(child, then=ChildState.PENDING)
        else:
            self._transition(child, ChildState.PENDING)

    async def _reset_later_children(self, child: _Child) -> None:
        """REST_FOR_ONE: stop the children after ``child`` (last first) and
        queue the restartable ones to start again after it is ready.

        Temporary children are only stopped, never re-run. Completed transient
        children *after* ``child`` are re-run: they depended on it.
        """
        for later in reversed(self._children[child.index + 1 :]):
            temporary = later.spec.restart is Restart.TEMPORARY
            if later.state in _ALIVE:
                await self._stop_child(
                    later, then=ChildState.STOPPED if temporary else ChildState.PENDING
                )
            elif not temporary and later.state is not ChildState.PENDING:
                self._transition(later, ChildState.PENDING)

    async def _stop_child(self, child: _Child, *, then: ChildState) -> None:
        """Cancel ``child`` and wait up to its shutdown_timeout for it to exit."""
        incarnation = child.incarnation
        assert incarnation is not None
        if child.state is not ChildState.STOPPING:
            self._transition(child, ChildState.STOPPING)
        incarnation.cancel_scope.cancel()
        timeout = child.spec.shutdown_timeout
        with trio.move_on_after(timeout):
            await incarnation.done.wait()
        error: BaseException | str | None = None
        if not incarnation.done.is_set():
            incarnation.abandoned = True
            self._abandoned.append((child, incarnation))
            error = (
                f"ShutdownTimeout: did not exit within {timeout:g} s of being cancelled; abandoned"
            )
            logger.warning(
                "%s: child %r did not exit within %g s of being cancelled; abandoning it",
                self._name,
                child.spec.name,
                timeout,
            )
        elif incarnation.error is not None and not isinstance(incarnation.error, trio.Cancelled):
            error = incarnation.error
            logger.warning(
                "%s: child %r raised while stopping: %s",
                self._name,
                child.spec.name,
                _describe(error),
                exc_info=error,
            )
        self._transition(child, then, error=error)

    async def _stop_all(self) -> None:
        for child in reversed(self._children):
            if child.state in _ALIVE or child.state is ChildState.STOPPING:
                await self._stop_child(child, then=ChildState.STOPPED)
            elif child.state in (ChildState.PENDING, ChildState.BACKING_OFF):
                self._transition(child, ChildState.STOPPED)

    # ------------------------------------------------------------ plumbing

    def _post(self, event: _Event) -> None:
        if self._events is None:
            return
        # The receive side is closed only once run() is over; late exits of
        # abandoned children have nobody left to tell.
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._events.send_nowait(event)

    def _transition(
        self, child: _Child, state: ChildState, *, error: BaseException | str | None = None
    ) -> None:
        now = datetime.now(UTC)
        if error is not None:
            child.last_error = error if isinstance(error, str) else _describe(error)
            child.last_error_at = now
        child.state = state
        child.since = now
        self._publish(self._snapshot(child))

    def _snapshot(self, child: _Child) -> ChildStatus:
        return ChildStatus(
            name=child.spec.name,
            state=child.state,
            restarts=child.restarts,
            restart_policy=child.spec.restart,
            last_error=child.last_error,
            last_error_at=child.last_error_at,
            since=child.since,
        )

    def _publish(self, status: ChildStatus) -> None:
        if self._on_change is not None:
            try:
                self._on_change(status)
            except Exception:
                logger.exception("%s: on_change callback failed for %r", self._name, status)
        for send in list(self._subscribers):
            try:
                send.send_nowait(status)
            except trio.WouldBlock:
                logger.warning(
                    "%s: status subscriber fell %s updates behind; closing it",
                    self._name,
                    send.statistics().max_buffer_size,
                )
                send.close()
                self._subscribers.remove(send)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(send)

    def _close_subscribers(self) -> None:
        for send in self._subscribers:
            send.close()
        self._subscribers.clear()
