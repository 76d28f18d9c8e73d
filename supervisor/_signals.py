"""Run a supervisor as the body of a process, stopping it on SIGTERM/SIGINT."""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterable

import trio

from ._supervisor import Supervisor

__all__ = ["serve_until_signal"]

logger = logging.getLogger("supervisor")


async def serve_until_signal(
    sup: Supervisor,
    *,
    signals: Iterable[int] = (signal.SIGINT, signal.SIGTERM),
    repeat_after: float = 1.0,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``sup`` until one of ``signals`` arrives, then stop it gracefully.

    Meant to be the main coroutine of a daemon::

        trio.run(serve_until_signal, sup)   # exits 0 after SIGTERM

    * The handlers are installed before any child starts, so a signal during
      startup also leads to a graceful stop.
    * On the first signal :meth:`Supervisor.stop` is called, and
      ``repeat_after`` seconds later the previous signal handlers are
      restored. A signal after that has its usual effect, the conventional
      "press Ctrl-C again to force" escape hatch while a slow shutdown is in
      progress: SIGTERM terminates the process; SIGINT raises
      KeyboardInterrupt, which cuts the orderly shutdown short (remaining
      children are cancelled at once, nobody is waited for) and propagates
      out of this function.
    * A repeat within ``repeat_after`` seconds is the same request, logged
      and otherwise ignored: one stop often arrives twice at once, e.g. when
      a process manager signals the whole process group (systemd's default
      ``KillMode``, ``pkill -f``) and a wrapper in it (``uv run``) forwards
      the signal to the daemon as well. Forcing on that would skip the
      orderly shutdown nobody asked to skip.
    * Returns normally after a clean shutdown (so the process can exit 0).
    * :class:`SupervisorEscalation` (and any other error from
      :meth:`Supervisor.run`) is re-raised as-is, *not* wrapped in an
      ExceptionGroup, so a CLI can ``except SupervisorEscalation`` and exit
      non-zero with its ``__cause__``.

    ``task_status`` is passed through to :meth:`Supervisor.run`:
    ``await nursery.start(serve_until_signal, sup)`` returns once all children
    are ready. Must run in the main thread (a requirement of
    :func:`trio.open_signal_receiver`).
    """
    failure: BaseException | None = None
    with contextlib.ExitStack() as handlers:
        receiver = handlers.enter_context(trio.open_signal_receiver(*signals))
        async with trio.open_nursery() as nursery:

            async def stop_on_first_signal() -> None:
                async for signum in receiver:
                    logger.warning(
                        "%s: received %s; stopping gracefully (repeat to force)",
                        sup.name,
                        signal.Signals(signum).name,
                    )
                    sup.stop()
                    break
                with trio.move_on_after(repeat_after):
                    async for signum in receiver:
                        logger.warning(
                            "%s: %s again within %g s of the first: the same stop request",
                            sup.name,
                            signal.Signals(signum).name,
                            repeat_after,
                        )
                # Restore the previous handlers so a repeated signal forces.
                handlers.close()

            nursery.start_soon(stop_on_first_signal)
            try:
                await sup.run(task_status=task_status)
            except BaseException as exc:
                # Raised from inside the nursery body it would come out wrapped
                # in an ExceptionGroup; keep it and re-raise it bare below.
                failure = exc
            finally:
                nursery.cancel_scope.cancel()
    if failure is not None:
        raise failure
