"""Ordered start, gated by each child's readiness."""

from __future__ import annotations

import contextvars

import pytest
import trio
import trio.testing

from supervisor import ChildSpec, ChildState, Restart, Supervisor
from supervisor.testing import EventLog, FakeChild, Step

# Every test here runs on trio.testing.MockClock(autojump_threshold=0) via
# pytest-trio's ``autojump_clock`` fixture: sleeps are instant and exact.


@pytest.mark.trio
async def test_children_start_in_order_each_after_previous_is_ready(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    a = FakeChild("a", log, default=Step.run(ready_after=1.0))
    b = FakeChild("b", log, default=Step.run(ready_after=2.0))
    c = FakeChild("c", log, default=Step.run(ready_after=0.5))
    sup = Supervisor([a.spec(), b.spec(), c.spec()])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        ready_at = trio.current_time()
        assert [s.state for s in sup.status()] == [ChildState.RUNNING] * 3
        assert sup.healthy()
        sup.stop()

    assert log.events()[:6] == [
        ("a", "start"),
        ("a", "ready"),
        ("b", "start"),
        ("b", "ready"),
        ("c", "start"),
        ("c", "ready"),
    ]
    assert log.times("a", "start") == [0.0]
    assert log.times("b", "start") == [pytest.approx(1.0)]
    assert log.times("c", "start") == [pytest.approx(3.0)]
    # run()'s own task_status.started() fires only once the last child is ready.
    assert ready_at == pytest.approx(3.5)


@pytest.mark.trio
async def test_status_is_pending_and_starting_while_gated(
    autojump_clock: trio.testing.MockClock,
) -> None:
    a = FakeChild("a", default=Step.run(ready_after=10.0))
    b = FakeChild("b")
    sup = Supervisor([a.spec(), b.spec()])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.run)
        await trio.sleep(5)
        assert [s.state for s in sup.status()] == [ChildState.STARTING, ChildState.PENDING]
        assert b.starts == 0
        assert not sup.healthy()
        await trio.sleep(5.5)
        assert [s.state for s in sup.status()] == [ChildState.RUNNING, ChildState.RUNNING]
        sup.stop()


@pytest.mark.trio
async def test_transient_migrator_gates_later_children_and_is_not_rerun(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    # Migrates for 2 s, calls started(), returns.
    migrator = FakeChild("migrator", log, default=Step.complete(ready_after=2.0))
    app = FakeChild("app", log)
    sup = Supervisor([migrator.spec(restart=Restart.TRANSIENT), app.spec()])

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert trio.current_time() == pytest.approx(2.0)
        await trio.sleep(100)
        status = {s.name: s for s in sup.status()}
        assert status["migrator"].state is ChildState.COMPLETED
        assert status["migrator"].restarts == 0
        assert status["migrator"].last_error is None
        assert status["app"].state is ChildState.RUNNING
        assert migrator.starts == 1
        assert app.starts == 1
        assert sup.healthy()
        sup.stop()

    assert log.times("app", "start") == [pytest.approx(2.0)]
    assert log.of("cancelled") == ["app"]  # the completed migrator is not "stopped"
    assert [s.state for s in sup.status()] == [ChildState.COMPLETED, ChildState.STOPPED]


@pytest.mark.trio
async def test_one_shot_child_returning_without_started_unblocks_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    job = FakeChild("job", log, default=Step(ready_after=None, then="return", after=1.5))
    app = FakeChild("app", log)
    sup = Supervisor([job.spec(restart=Restart.TRANSIENT), app.spec()])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.stop()
    assert log.times("app", "start") == [pytest.approx(1.5)]
    assert job.starts == 1


@pytest.mark.trio
async def test_crash_before_ready_is_restarted_with_backoff_and_later_children_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    db = FakeChild(
        "db",
        log,
        plan=[Step.crash(1.0, ready_after=None), Step.crash(1.0, ready_after=None)],
        default=Step.run(ready_after=1.0),
    )
    app = FakeChild("app", log)
    sup = Supervisor([db.spec(), app.spec()], max_restarts=5, backoff_initial=0.1, jitter=0.0)

    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert trio.current_time() == pytest.approx(3.3)
        status = sup.status()[0]
        assert status.restarts == 2
        assert status.last_error == "FakeChildError: db: boom"
        assert status.state is ChildState.RUNNING
        sup.stop()

    # start 0, crash 1, +0.1 backoff, start 1.1, crash 2.1, +0.2, start 2.3, ready 3.3
    assert log.times("db", "start") == pytest.approx([0.0, 1.1, 2.3])
    assert log.times("app", "start") == [pytest.approx(3.3)]
    assert app.starts == 1


@pytest.mark.trio
async def test_failed_temporary_child_does_not_block_later_children(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log = EventLog()
    probe = FakeChild("probe", log, default=Step.crash(1.0, ready_after=None))
    app = FakeChild("app", log)
    sup = Supervisor([probe.spec(restart=Restart.TEMPORARY), app.spec()])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.status()[0].state is ChildState.FAILED
        assert sup.healthy()  # only PERMANENT children count
        sup.stop()
    assert log.times("app", "start") == [pytest.approx(1.0)]
    assert probe.starts == 1


@pytest.mark.trio
async def test_empty_supervisor_is_ready_immediately(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor([])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        assert sup.healthy()
        assert sup.status() == []
        sup.stop()
    assert not sup.healthy()


@pytest.mark.trio
async def test_stop_before_run_starts_nothing(autojump_clock: trio.testing.MockClock) -> None:
    a = FakeChild("a")
    sup = Supervisor([a.spec()])
    sup.stop()
    await sup.run()
    assert a.starts == 0
    assert [s.state for s in sup.status()] == [ChildState.STOPPED]
    with pytest.raises(RuntimeError, match="once"):
        await sup.run()


@pytest.mark.trio
async def test_children_see_the_supervisors_context_variables(
    autojump_clock: trio.testing.MockClock,
) -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []

    async def child(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        seen.append(request_id.get("<unset>"))
        task_status.started()
        await trio.sleep_forever()

    request_id.set("boot-42")
    sup = Supervisor([ChildSpec("c", child)])
    async with trio.open_nursery() as nursery:
        await nursery.start(sup.run)
        sup.stop()
    assert seen == ["boot-42"]
