"""A fork server for daemon processes: import once, fork many times.

A cold ``python -m eventdedup run`` spends most of its start importing
(SQLAlchemy, Alembic, Quart, Hypercorn, the matcher): several seconds on a
loaded 2-core machine. The crash test restarts the daemon more than 20
times, so it forks each daemon from this process instead, which has imported
those modules but started nothing (no threads, no event loop, no
connections). Each child is a separate OS process that runs exactly what
``python -m eventdedup`` runs after its imports, ``eventdedup.cli.main(["run"])``,
so ``SIGKILL`` hits it exactly as it would hit the real thing.

Protocol: one JSON object per line on stdin, one answer per line on stdout.

* ``{"op": "spawn", "env": {...}, "cwd": "...", "log": "...", "inject": None | str}``
  → ``{"pid": N}``; ``inject`` names a fault from :data:`FAULTS` to build into the child
* ``{"op": "poll", "pid": N}`` → ``{"code": None | int}`` (``-signal`` if killed)

End of input ends the server (the test kills its children itself).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
import traceback
from collections.abc import Callable

import eventdedup.cli
import eventdedup.runner  # imported for its import cost, before any fork


def _always_fail() -> None:
    from eventdedup.pipeline import FileProcessor

    def commit(self: FileProcessor, parsed: object) -> None:
        raise RuntimeError("injected fault: the processor always fails")

    FileProcessor.commit = commit  # type: ignore[method-assign, assignment]


def _slow_matching(seconds: float) -> None:
    """Matching takes ``seconds`` longer, inside the file's open transaction."""
    from eventdedup.db.dedup import DbDeduplicator

    real = DbDeduplicator.settle

    def settle(self: DbDeduplicator, *args: object, **kwargs: object) -> object:
        time.sleep(seconds)
        return real(self, *args, **kwargs)

    DbDeduplicator.settle = settle  # type: ignore[method-assign, assignment]


#: Faults a test can build into a forked daemon (``inject="name"`` or ``"name:arg"``).
FAULTS: dict[str, Callable[..., None]] = {
    "processor-always-fails": _always_fail,
    "slow-matching": lambda arg: _slow_matching(float(arg)),
}


def _child(request: dict) -> int:
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    if request.get("inject"):
        name, _, arg = request["inject"].partition(":")
        FAULTS[name](*([arg] if arg else []))
        print(f"reliability test: injected fault {request['inject']!r}", file=sys.stderr)
    try:
        eventdedup.cli.main(["run"], prog_name="eventdedup")
        code = 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _exit_code(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main() -> None:
    finished: dict[int, int] = {}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                os._exit(_child(request))
            answer: dict = {"pid": pid}
        else:
            pid = request["pid"]
            if pid not in finished:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    finished[pid] = _exit_code(status)
            answer = {"code": finished.get(pid)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
