"""A small, trio-native supervision library in the spirit of Erlang/OTP.

Declare children as :class:`ChildSpec` values, hand them to a
:class:`Supervisor` and run it (usually via :func:`serve_until_signal`). The
supervisor starts children in order - each only after the previous one
reported readiness - restarts them according to their :class:`Restart` policy
and the :class:`Strategy`, backs off exponentially between restarts, gives up
with :class:`SupervisorEscalation` when restarts become too frequent, and
stops everything in reverse order with per-child shutdown timeouts.

See ``supervisor/README.md`` for a usage example and a semantics table, and
:mod:`supervisor.testing` for helpers to test code that uses it.
"""

from ._backoff import Backoff
from ._signals import serve_until_signal
from ._spec import ChildSpec, Restart, Strategy
from ._status import ChildState, ChildStatus
from ._supervisor import Supervisor, SupervisorEscalation

__all__ = [
    "Backoff",
    "ChildSpec",
    "ChildState",
    "ChildStatus",
    "Restart",
    "Strategy",
    "Supervisor",
    "SupervisorEscalation",
    "serve_until_signal",
]

# Like trio: present public objects as living in the package, not in private
# modules, so reprs and docs show ``supervisor.ChildSpec``.
for _obj in (
    Backoff,
    ChildSpec,
    ChildState,
    ChildStatus,
    Restart,
    Strategy,
    Supervisor,
    SupervisorEscalation,
    serve_until_signal,
):
    _obj.__module__ = __name__
del _obj
