"""Static configuration: what to run and how to react when it stops.

These are plain, immutable value objects so that a supervision tree can be
declared up front (e.g. at module level or from a config file) and inspected
or logged without touching any running state.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable

import attrs

__all__ = ["ChildSpec", "Restart", "Strategy"]


class Restart(enum.Enum):
    """When a child that stopped on its own is started again (OTP restart types).

    The policy only applies to exits the supervisor did not ask for; children
    the supervisor stops itself (shutdown, REST_FOR_ONE, restart_child) are
    handled by the strategy instead.
    """

    #: Always restarted, whether it crashed or returned. For services that
    #: should run for the supervisor's whole lifetime.
    PERMANENT = "permanent"
    #: Restarted only when it raised. A normal return means "my job is done"
    #: (e.g. a migration step) and the child becomes COMPLETED.
    TRANSIENT = "transient"
    #: Never restarted: a crash leaves it FAILED, a return leaves it COMPLETED.
    TEMPORARY = "temporary"


class Strategy(enum.Enum):
    """Which siblings are affected when one child has to be restarted."""

    #: Only the child that exited is restarted. Use when children are
    #: independent of each other.
    ONE_FOR_ONE = "one_for_one"
    #: The exited child *and every child started after it* are restarted
    #: (the later ones are stopped first, in reverse order). Use when later
    #: children depend on earlier ones, e.g. a worker holding a connection
    #: obtained from an earlier pool child.
    REST_FOR_ONE = "rest_for_one"


def _non_empty(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError(f"{attribute.name} must be a non-empty string")


def _finite_non_negative(
    _instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


@attrs.frozen
class ChildSpec:
    """How to run one child.

    ``start`` is called as ``await start(task_status=...)`` - the same
    convention as :meth:`trio.Nursery.start` - and must call
    ``task_status.started()`` once it is ready to serve. The supervisor starts
    the next child only after that call, so readiness, not mere spawning,
    orders the tree. A child that returns without ever calling ``started()``
    is treated as ready at the moment it returns (a one-shot job that had
    nothing to signal).

    ``shutdown_timeout`` bounds how long the supervisor waits, after
    cancelling the child, for it to exit (e.g. while it runs shielded cleanup).
    After that the child is *abandoned*: the supervisor stops waiting and moves
    on, see :meth:`Supervisor.stop`.
    """

    name: str = attrs.field(validator=[attrs.validators.instance_of(str), _non_empty])
    start: Callable[..., Awaitable[None]] = attrs.field(validator=attrs.validators.is_callable())
    restart: Restart = attrs.field(
        default=Restart.PERMANENT, validator=attrs.validators.instance_of(Restart)
    )
    shutdown_timeout: float = attrs.field(default=5.0, validator=_finite_non_negative)
