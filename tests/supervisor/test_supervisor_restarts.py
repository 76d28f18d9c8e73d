"""Restart policies, strategies, backoff and restart intensity."""

from __future__ import annotations

import itertools
import random

import pytest
import trio
import trio.testing

from supervisor import (
    ChildSpec,
    ChildState,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEscalation,
)
from supervisor.testing import EventLog, FakeChild, FakeChildError, Step


def _states(sup: Supervisor) -> dict[str, ChildState]:
    return {s.name: s.state for s in sup.status()}


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


# --------------------------------------------------------------- policies


@pytest.mark.trio
async def test_permanent_child_is_restarted_after_a_crash(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    w = FakeChild("w", log, plan=[Step.crash(1.0)])
    sup = Supervisor([w.spec()], jitter=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        status = sup.status()[0]
        assert status.state is ChildState.RUNNING
        assert status.restarts == 1
        assert status.last_error == "FakeChildError: w: boom"
        sup.stop()
    assert log.times("w", "start") == pytest.approx([0.0, 1.1])


@pytest.mark.trio
async def test_permanent_child_is_restarted_after_a_normal_return(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    w = FakeChild("w", log, plan=[Step.complete(1.0)])
    sup = Supervisor([w.spec()], jitter=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        status = sup.status()[0]
        assert (status.state, status.restarts, status.last_error) == (
            ChildState.RUNNING,
            1,
            None,
        )
        sup.stop()
    assert log.times("w", "start") == pytest.approx([0.0, 1.1])


@pytest.mark.trio
async def test_transient_child_restarted_after_crash_but_not_after_return(
    autojump_clock: trio.testing.MockClock,
) -> None:
    t = FakeChild("t", plan=[Step.crash(1.0)], default=Step.complete(2.0))
    sup = Supervisor([t.spec(restart=Restart.TRANSIENT)], jitter=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(100)
        status = sup.status()[0]
        assert status.state is ChildState.COMPLETED
        assert status.restarts == 1
        assert status.last_error == "FakeChildError: t: boom"
        assert t.starts == 2
        sup.stop()
    assert sup.status()[0].state is ChildState.COMPLETED


@pytest.mark.trio
async def test_temporary_children_are_never_restarted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    crasher = FakeChild("crasher", default=Step.crash(1.0))
    quitter = FakeChild("quitter", default=Step.complete(1.0))
    sup = Supervisor(
        [crasher.spec(restart=Restart.TEMPORARY), quitter.spec(restart=Restart.TEMPORARY)],
        max_restarts=0,  # any restart would escalate
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(100)
        crashed, quit_ = sup.status()
        assert (crashed.state, crashed.restarts) == (ChildState.FAILED, 0)
        assert crashed.last_error == "FakeChildError: crasher: boom"
        assert crashed.last_error_at is not None
        assert (quit_.state, quit_.restarts, quit_.last_error) == (ChildState.COMPLETED, 0, None)
        assert (crasher.starts, quitter.starts) == (1, 1)
        sup.stop()


# -------------------------------------------------------------- strategies


@pytest.mark.trio
async def test_one_for_one_restarts_only_the_crashed_child(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    b = FakeChild("b", log, plan=[Step.crash(1.0)])
    c = FakeChild("c", log)
    sup = Supervisor([a.spec(), b.spec(), c.spec()], strategy=Strategy.ONE_FOR_ONE, jitter=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        assert (a.starts, b.starts, c.starts) == (1, 2, 1)
        assert [s.restarts for s in sup.status()] == [0, 1, 0]
        assert log.of("cancelled") == []
        sup.stop()


@pytest.mark.trio
async def test_rest_for_one_restarts_crashed_child_and_those_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    mig = FakeChild("mig", log, default=Step.complete(ready_after=1.0))  # transient, before
    a = FakeChild("a", log)
    b = FakeChild("b", log, plan=[Step.crash(5.0)])
    c = FakeChild("c", log, default=Step.run(ready_after=0.5))
    warm = FakeChild("warm", log, default=Step.complete())  # transient, after the crash
    probe = FakeChild("probe", log)  # temporary, after the crash
    sup = Supervisor(
        [
            mig.spec(restart=Restart.TRANSIENT),
            a.spec(),
            b.spec(),
            c.spec(),
            warm.spec(restart=Restart.TRANSIENT),
            probe.spec(restart=Restart.TEMPORARY),
        ],
        strategy=Strategy.REST_FOR_ONE,
        jitter=0.0,
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert trio.current_time() == pytest.approx(1.5)
        await trio.sleep(20)  # b crashes at 6.0
        starts = {f.name: f.starts for f in (mig, a, b, c, warm, probe)}
        assert starts == {"mig": 1, "a": 1, "b": 2, "c": 2, "warm": 2, "probe": 1}
        assert _states(sup) == {
            "mig": ChildState.COMPLETED,
            "a": ChildState.RUNNING,
            "b": ChildState.RUNNING,
            "c": ChildState.RUNNING,
            "warm": ChildState.COMPLETED,
            "probe": ChildState.STOPPED,  # temporary: stopped, not re-run
        }
        assert [s.restarts for s in sup.status()] == [0, 0, 1, 1, 1, 0]
        sup.stop()

    # Later children were stopped last-first, before anything was restarted...
    events = log.events()
    after_crash = events[events.index(("b", "crash")) + 1 :]
    assert after_crash[:5] == [
        ("probe", "cancelled"),
        ("probe", "exit"),
        ("c", "cancelled"),
        ("c", "exit"),
        ("b", "start"),
    ]
    # ...then restarted in order, each after the previous one was ready.
    assert log.times("b", "start") == pytest.approx([1.0, 6.1])
    assert log.times("c", "start") == pytest.approx([1.0, 6.1])
    assert log.times("warm", "start") == pytest.approx([1.5, 6.6])


@pytest.mark.trio
async def test_one_for_one_restart_waits_for_earlier_child_that_is_not_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ordering rule applies to restarts too: nothing (re)starts while an
    earlier child is starting or backing off."""
    log = EventLog()
    a = FakeChild("a", log, plan=[Step.crash(1.0)], default=Step.run(ready_after=3.0))
    b = FakeChild("b", log, plan=[Step.crash(1.5)])
    sup = Supervisor([a.spec(), b.spec()], jitter=0.0, max_restarts=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        sup.stop()
    # a: crash 1.0, restart 1.1, ready 4.1.  b: crash 1.5, due 1.6, waits for a.
    assert log.times("a", "start") == pytest.approx([0.0, 1.1])
    assert log.times("b", "start") == pytest.approx([0.0, 4.1])


# ----------------------------------------------------------------- backoff


@pytest.mark.trio
async def test_backoff_delays_grow_exponentially_and_are_capped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    w = FakeChild("w", log, default=Step.crash(0.0))  # crashes as soon as it is ready
    sup = Supervisor(
        [w.spec()],
        max_restarts=100,
        max_seconds=1000,
        backoff_initial=0.1,
        backoff_multiplier=2.0,
        backoff_max=1.0,
        jitter=0.0,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.run)
        await trio.sleep(3.6)
        status = sup.status()[0]
        assert status.state is ChildState.BACKING_OFF
        assert status.restarts == 6
        sup.stop()
    assert log.times("w", "start") == pytest.approx([0.0, 0.1, 0.3, 0.7, 1.5, 2.5, 3.5])
    assert _gaps(log.times("w", "start")) == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
    assert sup.status()[0].state is ChildState.STOPPED


@pytest.mark.trio
async def test_backoff_jitter_comes_from_the_seeded_rng(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    w = FakeChild("w", log, default=Step.crash(0.0))
    sup = Supervisor(
        [w.spec()],
        max_restarts=100,
        max_seconds=1000,
        backoff_initial=0.1,
        backoff_max=1.0,
        jitter=0.1,
        rng=random.Random(1234),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.run)
        await trio.sleep(4)
        sup.stop()
    gaps = _gaps(log.times("w", "start"))[:6]
    bases = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    replay = random.Random(1234)
    expected = [base * (1 + 0.1 * replay.uniform(-1, 1)) for base in bases]
    assert gaps == pytest.approx(expected, abs=1e-9)
    for gap, base in zip(gaps, bases, strict=True):
        assert base * 0.9 <= gap <= base * 1.1
        assert gap != pytest.approx(base, abs=1e-6)


@pytest.mark.trio
async def test_backoff_resets_after_child_stayed_up_for_backoff_max(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    quick = Step.crash(0.0)
    w = FakeChild("w", log, plan=[quick, quick, quick, Step.crash(2.0)], default=quick)
    sup = Supervisor(
        [w.spec()],
        max_restarts=100,
        max_seconds=1000,
        backoff_initial=0.1,
        backoff_max=1.0,
        jitter=0.0,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.run)
        await trio.sleep(3.05)
        sup.stop()
    starts = log.times("w", "start")
    # 0.1, 0.2, 0.4 for the quick crashes; then it ran 2.0 s (>= backoff_max),
    # so the next delay starts from backoff_initial again (not 0.8), then grows.
    assert starts == pytest.approx([0.0, 0.1, 0.3, 0.7, 2.8, 3.0])


# --------------------------------------------------------------- intensity


@pytest.mark.trio
async def test_restart_intensity_escalates_after_stopping_everyone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    w = FakeChild("w", log, default=Step.crash(0.5))
    c = FakeChild("c", log)
    changes: list[tuple[str, ChildState]] = []
    sup = Supervisor(
        [a.spec(), w.spec(), c.spec()],
        max_restarts=2,
        max_seconds=5.0,
        jitter=0.0,
        on_change=lambda s: changes.append((s.name, s.state)),
    )
    with pytest.raises(SupervisorEscalation) as info:
        await sup.run()

    # w crashes at 0.5, 1.1 (restarted after 0.1), 1.8 (after 0.2): the third
    # restart within 5 s exceeds max_restarts=2.
    assert trio.current_time() == pytest.approx(1.8)
    exc = info.value
    assert exc.child == "w"
    assert exc.restarts == 3
    assert (exc.max_restarts, exc.max_seconds) == (2, 5.0)
    assert "'w'" in str(exc)
    assert "3 restarts within 5 s" in str(exc)
    assert "max_restarts=2" in str(exc)
    assert isinstance(exc.__cause__, FakeChildError)
    assert str(exc.__cause__) == "w: boom"

    assert _states(sup) == {
        "a": ChildState.STOPPED,
        "w": ChildState.FAILED,
        "c": ChildState.STOPPED,
    }
    assert sup.status()[1].last_error == "FakeChildError: w: boom"
    assert log.of("cancelled") == ["c", "a"]  # reverse start order
    # The culprit is marked FAILED before the others are stopped.
    assert changes[-5:] == [
        ("w", ChildState.FAILED),
        ("c", ChildState.STOPPING),
        ("c", ChildState.STOPPED),
        ("a", ChildState.STOPPING),
        ("a", ChildState.STOPPED),
    ]
    assert not sup.healthy()
    assert w.starts == 3


@pytest.mark.trio
async def test_restarts_spread_wider_than_max_seconds_do_not_escalate(
    autojump_clock: trio.testing.MockClock,
) -> None:
    w = FakeChild("w", default=Step.crash(6.0))  # crash every ~6 s
    sup = Supervisor([w.spec()], max_restarts=1, max_seconds=5.0, backoff_max=1.0, jitter=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(40)
        # crashes at 6.0, 12.1, 18.2, 24.3, 30.4, 36.5 - never two within 5 s
        assert sup.status()[0].restarts == 6
        assert sup.status()[0].state is ChildState.RUNNING
        sup.stop()


@pytest.mark.trio
async def test_zero_max_restarts_escalates_on_first_exit_even_a_normal_return(
    autojump_clock: trio.testing.MockClock,
) -> None:
    w = FakeChild("w", default=Step.complete(2.0))
    sup = Supervisor([w.spec()], max_restarts=0)
    with pytest.raises(SupervisorEscalation) as info:
        await sup.run()
    assert info.value.__cause__ is None
    assert "returned" in str(info.value)
    assert "1 restarts within 5 s exceed max_restarts=0" in str(info.value)
    assert trio.current_time() == pytest.approx(2.0)
    assert sup.status()[0].state is ChildState.FAILED


@pytest.mark.trio
async def test_escalation_during_startup_propagates_out_of_nursery_start(
    autojump_clock: trio.testing.MockClock,
) -> None:
    db = FakeChild("db", default=Step.crash(1.0, ready_after=None))
    app = FakeChild("app")
    sup = Supervisor([db.spec(), app.spec()], max_restarts=1)
    with pytest.raises(ExceptionGroup) as info:  # the test's own nursery wraps it
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
    [escalation] = info.value.exceptions
    assert isinstance(escalation, SupervisorEscalation)
    assert escalation.child == "db"
    assert app.starts == 0
    assert db.starts == 2


@pytest.mark.trio
async def test_a_crash_inside_the_childs_own_nursery_is_reported_by_its_cause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def staged(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async def stage() -> None:
            await trio.sleep(1)
            raise ValueError("bad input in stage two")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(stage)
            task_status.started()
            await trio.sleep_forever()

    sup = Supervisor([ChildSpec("staged", staged)], jitter=0.0)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(1.05)
        assert sup.status()[0].last_error == "ValueError: bad input in stage two"
        sup.stop()
