"""serve_until_signal: real signals to our own process, real (but short) time."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from supervisor import ChildState, Supervisor, SupervisorEscalation, serve_until_signal
from supervisor.testing import EventLog, FakeChild, FakeChildError, Step


@pytest.mark.trio
async def test_sigterm_stops_gracefully_and_returns_normally(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    b = FakeChild("b", log, default=Step.run(cleanup=0.05))
    sup = Supervisor([a.spec(), b.spec()])
    before = signal.getsignal(signal.SIGTERM)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            await nursery.start(serve_until_signal, sup)
            assert sup.healthy()
            assert signal.getsignal(signal.SIGTERM) != before  # ours while serving
            started = trio.current_time()
            os.kill(os.getpid(), signal.SIGTERM)
        elapsed = trio.current_time() - started

    # virtual time: exactly b's cleanup, so nothing waited for a shutdown timeout (5 s)
    assert elapsed == pytest.approx(0.05)
    assert log.of("cancelled") == ["b", "a"]
    assert log.of("exit") == ["b", "a"]
    assert [s.state for s in sup.status()] == [ChildState.STOPPED] * 2
    assert signal.getsignal(signal.SIGTERM) == before  # handler restored


@pytest.mark.trio
async def test_signal_during_startup_stops_too() -> None:
    log = EventLog()
    slow = FakeChild("slow", log, default=Step(ready_after=None))  # never ready
    later = FakeChild("later", log)
    sup = Supervisor([slow.spec(), later.spec()])
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(serve_until_signal, sup)
            await trio.testing.wait_all_tasks_blocked()
            assert slow.running
            os.kill(os.getpid(), signal.SIGTERM)
    assert log.of("cancelled") == ["slow"]
    assert later.starts == 0


@pytest.mark.trio
async def test_custom_signal_set(autojump_clock: trio.testing.MockClock) -> None:
    sup = Supervisor([FakeChild("a").spec()])
    async with trio.open_nursery() as nursery:
        await nursery.start(functools.partial(serve_until_signal, sup, signals=[signal.SIGUSR1]))
        os.kill(os.getpid(), signal.SIGUSR1)
    assert sup.status()[0].state is ChildState.STOPPED


@pytest.mark.trio
async def test_escalation_is_reraised_bare_with_its_cause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    w = FakeChild("w", default=Step.crash(1.0))
    sup = Supervisor([w.spec()], max_restarts=0)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SupervisorEscalation) as info:  # not an ExceptionGroup
        await serve_until_signal(sup)
    assert type(info.value) is SupervisorEscalation
    assert info.value.child == "w"
    assert isinstance(info.value.__cause__, FakeChildError)
    assert signal.getsignal(signal.SIGTERM) == before


@contextlib.asynccontextmanager
async def _slow_stop_on_sigusr1() -> AsyncIterator[tuple[FakeChild, EventLog, list[int]]]:
    """Serve a child whose cleanup takes 3 s, stopped by SIGUSR1; the list collects
    the signals that reach the handler installed before (the "forcing" one)."""
    log = EventLog()
    slow = FakeChild("slow", log, default=Step.run(cleanup=3.0))
    sup = Supervisor([slow.spec()])
    previous: list[int] = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: previous.append(signum))
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(serve_until_signal, sup, signals=[signal.SIGUSR1])
            )
            yield slow, log, previous
    finally:
        signal.signal(signal.SIGUSR1, old)


@pytest.mark.trio
async def test_a_later_repeat_reaches_the_previous_handler(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Once ``repeat_after`` has passed the old handlers are back, so a repeated
    signal has its usual (forcing) effect while a slow shutdown is under way."""
    async with _slow_stop_on_sigusr1() as (slow, log, previous):
        os.kill(os.getpid(), signal.SIGUSR1)  # ours: graceful stop begins
        await trio.sleep(1.5)
        assert previous == []
        assert slow.running  # still in its shielded cleanup
        os.kill(os.getpid(), signal.SIGUSR1)  # the previous handler's again
        await trio.sleep(0.1)
        assert previous == [signal.SIGUSR1]
    assert log.times("slow", "exit") == [pytest.approx(3.0)]


@pytest.mark.trio
async def test_a_repeat_right_after_the_first_is_the_same_request(
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``pkill``/systemd signal the whole group and ``uv run`` forwards the
    signal too: two at once must not force past the orderly shutdown."""
    async with _slow_stop_on_sigusr1() as (_slow, log, previous):
        os.kill(os.getpid(), signal.SIGUSR1)
        await trio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGUSR1)  # the forwarded copy
        await trio.sleep(0.5)
        os.kill(os.getpid(), signal.SIGUSR1)  # still within repeat_after
        await trio.sleep(0.1)
    assert previous == []
    assert log.times("slow", "exit") == [pytest.approx(3.0)]  # shut down in order
    assert sum("the same stop request" in r.getMessage() for r in caplog.records) == 2
