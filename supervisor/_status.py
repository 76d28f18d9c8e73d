"""Observable state of a supervised child.

The supervisor publishes immutable :class:`ChildStatus` snapshots rather than
exposing its internal records, so observers (a health endpoint, a TUI, a
websocket feed) can hold on to them, compare them or serialise them without
racing the supervisor.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from ._spec import Restart

__all__ = ["ChildState", "ChildStatus"]


class ChildState(enum.Enum):
    """Lifecycle of a child as seen by its supervisor.

    Typical paths::

        PENDING -> STARTING -> RUNNING -> STOPPING -> STOPPED     (graceful stop)
        RUNNING -> BACKING_OFF -> STARTING -> RUNNING              (restart)
        RUNNING -> COMPLETED                                       (transient/temporary done)
        RUNNING -> FAILED                                          (temporary crash, escalation)
    """

    #: Not started yet: waiting for an earlier child to become ready (or to
    #: be restarted itself after a REST_FOR_ONE restart / restart_child()).
    PENDING = "pending"
    #: Task spawned, ``task_status.started()`` not called yet.
    STARTING = "starting"
    #: Ready (called ``task_status.started()``) and still running.
    RUNNING = "running"
    #: Exited and waiting out its restart delay (or, once the delay is over,
    #: waiting for earlier children to become ready).
    BACKING_OFF = "backing-off"
    #: Cancelled by the supervisor; waiting up to ``shutdown_timeout``.
    STOPPING = "stopping"
    #: Stopped by the supervisor (or abandoned after ``shutdown_timeout``).
    STOPPED = "stopped"
    #: Returned normally and will not be restarted (transient / temporary).
    COMPLETED = "completed"
    #: Crashed and will not be restarted (temporary), or caused an escalation.
    FAILED = "failed"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@attrs.frozen
class ChildStatus:
    """Snapshot of one child at the moment it was taken.

    Times are wall-clock UTC and meant for display only; the supervisor itself
    measures everything on trio's clock.
    """

    name: str
    state: ChildState
    #: How many times the child has been started again after its first start
    #: (policy restarts, sibling restarts and operator restarts alike).
    restarts: int
    restart_policy: Restart
    #: ``"ExcType: message"`` of the most recent problem, or None.
    last_error: str | None = None
    last_error_at: datetime | None = None
    #: When the child entered ``state``; None if it never changed state.
    since: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a ``json.dumps``-ready dict (enum values, ISO-8601 times)."""
        return {
            "name": self.name,
            "state": self.state.value,
            "restarts": self.restarts,
            "restart_policy": self.restart_policy.value,
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
            "since": _iso(self.since),
        }
