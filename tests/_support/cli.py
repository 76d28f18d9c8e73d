"""The ``eventdedup`` command line as a user runs it, in a clean environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests._support.wait import wait_until

EVENTDEDUP = [sys.executable, "-m", "eventdedup"]


def cli_env(root: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any ``EVENT_DEDUP_*``, the folders under ``root``.

    ``extra`` adds or overrides variables (the database URL, a port, ...).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENT_DEDUP_")}
    env.update(
        {
            "EVENT_DEDUP_EVENT_DATA_DIR": str(root / "inbox"),
            "EVENT_DEDUP_DEAD_LETTER_DIR": str(root / "dead_letters"),
            "EVENT_DEDUP_ARCHIVE_DIR": str(root / "archive"),
            "EVENT_DEDUP_DATA_DIR": str(root / "state"),
        }
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``eventdedup ARGS`` to completion, output captured as text (``timeout`` catches hangs)."""
    return subprocess.run(
        [*EVENTDEDUP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start_cli_daemon(
    root: Path, args: list[str], port: int, within: float = 60, **env: str
) -> subprocess.Popen[str]:
    """``eventdedup ARGS`` (a ``run``) under ``root``, once its /health on ``port`` answers 200.

    ``env`` goes to :func:`cli_env`; ``args`` or ``env`` give the daemon ``port``. If it
    exits or is not healthy within ``within`` s, it is killed and the error carries its output.
    """
    proc = subprocess.Popen(
        [*EVENTDEDUP, *args],
        env=cli_env(root, **env),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def healthy() -> bool:
        assert proc.poll() is None, proc.communicate()[0]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, within, f"/health 200 on port {port}", interval=0.2)
    except AssertionError as exc:
        if proc.poll() is None:
            proc.kill()
        raise AssertionError(f"{exc}: {proc.communicate()[0]}") from None
    return proc


def stop_cli(proc: subprocess.Popen[str], signals: int = 1, within: float = 30) -> str:
    """SIGTERM (``signals`` times, 0.15 s apart: after trio has taken the one before,
    two at once being one to it anyway); the daemon's output once it has exited."""
    try:
        for n in range(signals):
            if n:
                time.sleep(0.15)
            proc.send_signal(signal.SIGTERM)
        return proc.communicate(timeout=within)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
