"""Status reporting, operator control (restart_child, stop) and shutdown."""

from __future__ import annotations

import logging
from datetime import UTC

import pytest
import trio
import trio.testing

from supervisor import ChildSpec, ChildState, ChildStatus, Restart, Strategy, Supervisor
from supervisor.testing import EventLog, FakeChild, Step

S = ChildState


# ------------------------------------------------------------------ status


@pytest.mark.trio
async def test_on_change_sequence_and_status_snapshot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a = FakeChild("a")
    b = FakeChild("b", plan=[Step.crash(1.0)])
    changes: list[ChildStatus] = []
    sup = Supervisor([a.spec(), b.spec()], jitter=0.0, on_change=changes.append)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(5)
        snapshot = sup.status()
        sup.stop()

    assert [(c.name, c.state) for c in changes] == [
        ("a", S.STARTING),
        ("a", S.RUNNING),
        ("b", S.STARTING),
        ("b", S.RUNNING),
        ("b", S.BACKING_OFF),
        ("b", S.STARTING),
        ("b", S.RUNNING),
        ("b", S.STOPPING),
        ("b", S.STOPPED),
        ("a", S.STOPPING),
        ("a", S.STOPPED),
    ]
    assert [c.restarts for c in changes if c.name == "b"] == [0, 0, 0, 1, 1, 1, 1]
    assert [c.last_error for c in changes if c.name == "b"][:5] == [
        None,
        None,
        "FakeChildError: b: boom",
        "FakeChildError: b: boom",
        "FakeChildError: b: boom",
    ]

    a_status, b_status = snapshot
    assert (a_status.name, a_status.state, a_status.restarts) == ("a", S.RUNNING, 0)
    assert a_status.last_error is None and a_status.last_error_at is None
    assert (b_status.state, b_status.restarts, b_status.restart_policy) == (
        S.RUNNING,
        1,
        Restart.PERMANENT,
    )
    assert b_status.last_error == "FakeChildError: b: boom"
    assert b_status.last_error_at is not None and b_status.last_error_at.tzinfo is UTC
    assert b_status.since is not None and b_status.since >= b_status.last_error_at
    # The snapshot is what on_change last said about each child at that time.
    assert snapshot == [changes[1], changes[6]]
    # ...and after the run, status() matches the final notifications.
    assert sup.status() == [changes[-1], changes[-3]]


@pytest.mark.trio
async def test_on_change_exceptions_are_logged_and_swallowed(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[ChildState] = []

    def broken(status: ChildStatus) -> None:
        calls.append(status.state)
        raise ValueError("observer bug")

    a = FakeChild("a", plan=[Step.crash(1.0)])
    sup = Supervisor([a.spec()], jitter=0.0, on_change=broken)
    with caplog.at_level(logging.ERROR, logger="supervisor"):
        async with trio.open_nursery() as nursery:
            await nursery.start(sup.run)
            await trio.sleep(5)
            assert sup.status()[0].state is S.RUNNING
            assert a.starts == 2
            sup.stop()
    assert calls == [
        S.STARTING,
        S.RUNNING,
        S.BACKING_OFF,
        S.STARTING,
        S.RUNNING,
        S.STOPPING,
        S.STOPPED,
    ]
    failures = [r for r in caplog.records if "on_change callback failed" in r.getMessage()]
    assert len(failures) == len(calls)
    assert failures[0].exc_info is not None and failures[0].exc_info[0] is ValueError


@pytest.mark.trio
async def test_subscribe_receives_every_change_and_ends_with_run(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a = FakeChild("a", plan=[Step.crash(1.0)])
    changes: list[ChildStatus] = []
    sup = Supervisor([a.spec()], jitter=0.0, on_change=changes.append)
    received: list[ChildStatus] = []
    feed = sup.subscribe()

    async def consume() -> None:
        async with feed:
            async for status in feed:
                received.append(status)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consume)
        await nursery.start(sup.run)
        await trio.sleep(5)
        sup.stop()
    # consume() finished, so the channel was closed when run() returned.
    assert received == changes
    assert len(received) == 7
    after = sup.subscribe()
    with pytest.raises(trio.EndOfChannel):
        await after.receive()


@pytest.mark.trio
async def test_slow_subscriber_is_cut_off_not_fed_stale_data(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor([FakeChild("a").spec(), FakeChild("b").spec()])
    feed = sup.subscribe(max_buffer=2)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)  # 4 changes; only 2 fit
        first = [feed.receive_nowait(), feed.receive_nowait()]
        assert [(s.name, s.state) for s in first] == [("a", S.STARTING), ("a", S.RUNNING)]
        with pytest.raises(trio.EndOfChannel):
            feed.receive_nowait()
        assert sup.healthy()  # the supervisor itself is unaffected
        sup.stop()


@pytest.mark.trio
async def test_healthy_tracks_permanent_children(autojump_clock: trio.testing.MockClock) -> None:
    db = FakeChild("db", plan=[Step.run(), Step.run(ready_after=2.0)])
    job = FakeChild("job", default=Step.complete(1.0))
    sup = Supervisor([db.spec(), job.spec(restart=Restart.TRANSIENT)], jitter=0.0)
    assert not sup.healthy()
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.healthy()
        await trio.sleep(5)  # job completed: still healthy
        assert sup.status()[1].state is S.COMPLETED
        assert sup.healthy()
        db.crash()
        await trio.sleep(0.05)  # backing off
        assert sup.status()[0].state is S.BACKING_OFF
        assert not sup.healthy()
        await trio.sleep(1.0)  # restarted at +0.1, not ready before +2.1
        assert sup.status()[0].state is S.STARTING
        assert not sup.healthy()
        await trio.sleep(2.0)
        assert sup.healthy()
        sup.stop()
        assert not sup.healthy()  # stopping
    assert not sup.healthy()


# ----------------------------------------------------------- restart_child


@pytest.mark.trio
async def test_restart_child_restarts_now_and_does_not_count_toward_intensity(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    b = FakeChild("b", log)
    sup = Supervisor([a.spec(), b.spec()], max_restarts=0)  # any crash would escalate
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        for _ in range(3):
            await trio.sleep(1)
            sup.restart_child("b")
        await trio.sleep(1)
        assert (a.starts, b.starts) == (1, 4)
        assert [s.restarts for s in sup.status()] == [0, 3]
        assert [s.state for s in sup.status()] == [S.RUNNING, S.RUNNING]
        assert sup.status()[1].last_error is None
        with pytest.raises(KeyError):
            sup.restart_child("nope")
        sup.stop()
    # Restarted immediately (no backoff) at t = 1, 2, 3.
    assert log.times("b", "start") == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert log.times("b", "cancelled") == pytest.approx([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(RuntimeError, match="not running"):
        sup.restart_child("a")


@pytest.mark.trio
async def test_restart_child_under_rest_for_one_restarts_later_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a, b, c = (FakeChild(n, log) for n in "abc")
    sup = Supervisor([a.spec(), b.spec(), c.spec()], strategy=Strategy.REST_FOR_ONE)
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(1)
        sup.restart_child("b")
        await trio.sleep(1)
        assert (a.starts, b.starts, c.starts) == (1, 2, 2)
        sup.stop()
    assert log.events()[6:12] == [
        ("c", "cancelled"),
        ("c", "exit"),
        ("b", "cancelled"),
        ("b", "exit"),
        ("b", "start"),
        ("b", "ready"),
    ]
    assert log.events()[12] == ("c", "start")


@pytest.mark.trio
async def test_restart_child_reruns_a_completed_transient_and_skips_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    mig = FakeChild("mig", log, default=Step.complete())
    w = FakeChild("w", log, plan=[Step.crash(1.0)])
    sup = Supervisor(
        [mig.spec(restart=Restart.TRANSIENT), w.spec()], backoff_initial=10.0, jitter=0.0
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.restart_child("mig")
        await trio.sleep(2)  # w crashed at 1.0 and waits 10 s ...
        assert sup.status()[1].state is S.BACKING_OFF
        sup.restart_child("w")  # ... unless an operator says otherwise
        await trio.sleep(1)
        assert [s.state for s in sup.status()] == [S.COMPLETED, S.RUNNING]
        assert (mig.starts, w.starts) == (2, 2)
        sup.stop()
    assert log.times("w", "start") == pytest.approx([0.0, 2.0])


# ----------------------------------------------------------------- shutdown


@pytest.mark.trio
async def test_stop_cancels_in_reverse_order_and_abandons_slow_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    stuck = FakeChild("stuck", log, default=Step.run(cleanup=30.0))  # ignores cancel for 30 s
    tidy = FakeChild("tidy", log, default=Step.run(cleanup=0.5))  # cleans up within time
    sup = Supervisor([a.spec(), stuck.spec(shutdown_timeout=1.0), tidy.spec(shutdown_timeout=1.0)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        await trio.sleep(10)
        sup.stop()
        sup.stop()  # idempotent
    returned_at = trio.current_time()

    assert log.of("cancelled") == ["tidy", "stuck", "a"]
    assert log.times("tidy", "cancelled") == [pytest.approx(10.0)]
    assert log.times("tidy", "exit") == [pytest.approx(10.5)]  # waited for
    assert log.times("stuck", "cancelled") == [pytest.approx(10.5)]
    assert log.times("a", "cancelled") == [pytest.approx(11.5)]  # stuck abandoned after 1 s
    assert returned_at == pytest.approx(11.5)

    assert [s.state for s in sup.status()] == [S.STOPPED] * 3
    last_error = sup.status()[1].last_error
    assert last_error is not None
    assert last_error.startswith("ShutdownTimeout:")
    assert "abandoned" in last_error
    assert sup.status()[0].last_error is None
    assert sup.abandoned() == ["stuck"]
    assert log.times("stuck", "exit") == []
    await trio.sleep(30)
    assert log.times("stuck", "exit") == [pytest.approx(40.5)]
    assert sup.abandoned() == []


@pytest.mark.trio
async def test_outside_cancellation_still_stops_children_in_reverse_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    children = [FakeChild(n, log, default=Step.run(cleanup=0.25)) for n in "abc"]
    sup = Supervisor([c.spec() for c in children])
    with trio.move_on_after(5) as scope:
        await sup.run()
    assert scope.cancelled_caught
    assert log.of("cancelled") == ["c", "b", "a"]
    assert log.of("exit") == ["c", "b", "a"]
    # The final shutdown is shielded: each child got its cleanup time.
    assert trio.current_time() == pytest.approx(5.75)
    assert [s.state for s in sup.status()] == [S.STOPPED] * 3


@pytest.mark.trio
async def test_stop_during_startup_stops_started_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)
    b = FakeChild("b", log, default=Step.run(ready_after=100.0))
    c = FakeChild("c", log)
    sup = Supervisor([a.spec(), b.spec(), c.spec()])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.run)
        await trio.sleep(1)
        sup.stop()
    assert log.of("cancelled") == ["b", "a"]
    assert c.starts == 0
    assert [s.state for s in sup.status()] == [S.STOPPED] * 3


class Fatal(BaseException):
    """Stands in for KeyboardInterrupt/SystemExit without upsetting pytest."""


@pytest.mark.trio
async def test_base_exceptions_from_a_child_propagate_after_stopping_the_others(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log)

    async def doomed(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await trio.sleep(1)
        raise Fatal("bye")

    c = FakeChild("c", log)
    sup = Supervisor([a.spec(), ChildSpec("doomed", doomed), c.spec()])
    with pytest.raises(Fatal):
        await sup.run()
    assert log.of("cancelled") == ["c", "a"]
    assert [s.state for s in sup.status()] == [S.STOPPED, S.FAILED, S.STOPPED]
    assert sup.status()[1].last_error == "Fatal: bye"
