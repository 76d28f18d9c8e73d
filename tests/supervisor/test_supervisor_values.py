"""Value objects: ChildSpec, ChildStatus, Backoff, SupervisorEscalation."""

from __future__ import annotations

import json
import pickle
import random
from datetime import UTC, datetime

import pytest

import supervisor
from supervisor import (
    Backoff,
    ChildSpec,
    ChildState,
    ChildStatus,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEscalation,
)


async def _noop(*, task_status: object = None) -> None:
    return None


def test_public_namespace() -> None:
    assert set(supervisor.__all__) >= {
        "ChildSpec",
        "Restart",
        "Strategy",
        "ChildState",
        "ChildStatus",
        "Supervisor",
        "SupervisorEscalation",
        "serve_until_signal",
    }
    assert ChildSpec.__module__ == "supervisor"
    assert [r.value for r in Restart] == ["permanent", "transient", "temporary"]
    assert [s.value for s in Strategy] == ["one_for_one", "rest_for_one"]
    assert {s.value for s in ChildState} == {
        "pending",
        "starting",
        "running",
        "backing-off",
        "stopping",
        "stopped",
        "completed",
        "failed",
    }


def test_child_spec_defaults_and_validation() -> None:
    spec = ChildSpec("db", _noop)
    assert spec.restart is Restart.PERMANENT
    assert spec.shutdown_timeout == 5.0
    with pytest.raises(ValueError, match="name"):
        ChildSpec("", _noop)
    with pytest.raises(TypeError):
        ChildSpec("db", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shutdown_timeout"):
        ChildSpec("db", _noop, shutdown_timeout=-1)
    with pytest.raises(TypeError):
        ChildSpec("db", _noop, restart="permanent")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_supervisor_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Supervisor([ChildSpec("a", _noop), ChildSpec("a", _noop)])
    with pytest.raises(ValueError, match="max_restarts"):
        Supervisor([], max_restarts=-1)
    with pytest.raises(ValueError, match="max_seconds"):
        Supervisor([], max_seconds=0)
    with pytest.raises(ValueError, match="jitter"):
        Supervisor([], jitter=1.5)
    with pytest.raises(ValueError, match="maximum"):
        Supervisor([], backoff_initial=5, backoff_max=1)


def test_child_status_to_json() -> None:
    at = datetime(2024, 5, 1, 12, 30, 0, tzinfo=UTC)
    status = ChildStatus(
        name="db",
        state=ChildState.BACKING_OFF,
        restarts=3,
        restart_policy=Restart.TRANSIENT,
        last_error="OSError: connection refused",
        last_error_at=at,
        since=at,
    )
    expected = {
        "name": "db",
        "state": "backing-off",
        "restarts": 3,
        "restart_policy": "transient",
        "last_error": "OSError: connection refused",
        "last_error_at": "2024-05-01T12:30:00+00:00",
        "since": "2024-05-01T12:30:00+00:00",
    }
    assert status.to_json() == expected
    assert json.loads(json.dumps(status.to_json())) == expected

    fresh = ChildStatus("db", ChildState.PENDING, 0, Restart.PERMANENT)
    assert fresh.to_json()["last_error_at"] is None
    assert fresh.to_json()["since"] is None


def test_initial_status_snapshot() -> None:
    sup = Supervisor([ChildSpec("a", _noop), ChildSpec("b", _noop, restart=Restart.TEMPORARY)])
    assert sup.status() == [
        ChildStatus("a", ChildState.PENDING, 0, Restart.PERMANENT),
        ChildStatus("b", ChildState.PENDING, 0, Restart.TEMPORARY),
    ]
    assert not sup.healthy()


def test_backoff_exponential_and_capped_without_jitter() -> None:
    backoff = Backoff(initial=0.1, maximum=1.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(0)
    delays = [backoff.delay(n, rng) for n in range(1, 8)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])
    assert rng.random() == random.Random(0).random()  # no randomness consumed
    assert backoff.base_delay(10_000) == 1.0  # no OverflowError
    with pytest.raises(ValueError):
        backoff.base_delay(0)


def test_backoff_jitter_is_proportional_and_seeded() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.1)
    first = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    second = [backoff.delay(n, random.Random(42)) for n in range(1, 6)]
    assert first == second
    # Random(42).uniform(-1, 1) == 0.2788535969157675
    assert first[0] == pytest.approx(1.0 * (1 + 0.1 * 0.2788535969157675))
    rng = random.Random(1)
    for n, base in enumerate([1.0, 2.0, 4.0, 8.0, 8.0, 8.0], start=1):
        d = backoff.delay(n, rng)
        assert base * 0.9 <= d <= base * 1.1
        assert d != base


def test_escalation_attributes_and_pickle() -> None:
    exc = SupervisorEscalation("boom", child="db", restarts=3, max_restarts=2, max_seconds=5.0)
    assert str(exc) == "boom"
    clone = pickle.loads(pickle.dumps(exc))
    assert isinstance(clone, SupervisorEscalation)
    assert (clone.child, clone.restarts, clone.max_restarts, clone.max_seconds) == (
        "db",
        3,
        2,
        5.0,
    )
    assert str(clone) == "boom"
