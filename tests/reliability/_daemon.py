"""The real daemon as a subprocess (``python -m eventdedup run``), and faults to inject into it.

Everything here talks to the process the way an operator or a container
runtime would: environment variables in, ``/health`` and the database out,
``SIGKILL``/``SIGTERM`` as the faults. Only loopback addresses are used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import sqlalchemy as sa

from tests._support.auth import TOKEN
from tests._support.cli import EVENTDEDUP, cli_env
from tests._support.db import rows
from tests._support.net import free_port
from tests._support.wait import wait_until


def daemon_env(root: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    """A clean environment: no inherited ``EVENT_DEDUP_*``, folders under ``root``."""
    env = cli_env(
        root,
        EVENT_DEDUP_DATABASE_URL=database_url,
        EVENT_DEDUP_HTTP_PORT=str(port),
        EVENT_DEDUP_SETTLE_SECONDS="0.2",
        EVENT_DEDUP_RESCAN_SECONDS="2",
        EVENT_DEDUP_ADMIN_TOKEN=TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)  # ``extra`` may override any of the above
    return env


class DaemonProcess:
    """One daemon configuration that can be started, killed and restarted many times.

    Each start logs to its own file under ``root/logs`` (a file, not a pipe: a
    pipe nobody drains would eventually block the daemon's logging). With a
    :class:`Zygote` the process is forked from the pre-imported fork server
    instead of exec'ing a fresh interpreter (see ``_zygote.py`` for why).
    """

    def __init__(
        self,
        root: Path,
        database_url: str,
        *,
        port: int | None = None,
        argv: list[str] | None = None,
        zygote: Zygote | None = None,
        inject: str | None = None,
        **extra_env: str,
    ) -> None:
        self.root = root
        self.port = port or free_port()
        self.env = daemon_env(root, database_url, self.port, **extra_env)
        self.argv = argv or [*EVENTDEDUP, "run"]
        self.zygote = zygote
        self.inject = inject
        assert inject is None or zygote is not None, "faults are injected by the fork server"
        self.proc: subprocess.Popen[bytes] | ForkedProcess | None = None
        self.starts = 0
        self.log_path: Path | None = None
        for sub in ("inbox", "archive", "dead_letters", "logs"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def dead_letters(self) -> Path:
        return self.root / "dead_letters"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self.log_path = self.root / "logs" / f"daemon-{self.starts:02d}.log"
        if self.zygote is not None:
            self.proc = self.zygote.spawn(self.env, self.root, self.log_path, self.inject)
            return
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self, timeout: float = 2.0) -> httpx.Response | None:
        try:
            return httpx.get(self.url + "/health", timeout=timeout)
        except httpx.TransportError:
            return None

    def wait_health(self, status: int = 200, timeout: float = 60.0) -> httpx.Response:
        """Poll ``/health`` until it answers ``status``; fail early if the process died."""
        deadline = time.monotonic() + timeout
        last: httpx.Response | None = None
        while time.monotonic() < deadline:
            if not self.running():
                raise AssertionError(f"daemon exited with {self.returncode()}:\n{self.log()}")
            last = self.health()
            if last is not None and last.status_code == status:
                return last
            time.sleep(0.1)
        body = last.text if last is not None else "no answer"
        raise AssertionError(
            f"/health did not answer {status} within {timeout} s: {body}\n{self.log()[-4000:]}"
        )

    def kill(self) -> None:
        """``kill -9``: no cleanup, no rollback by the process, sockets closed by the kernel."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def all_logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted((self.root / "logs").glob("daemon-*.log"))
        )

    def close(self) -> None:
        if self.running():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(timeout=30)


@contextlib.contextmanager
def daemon_process(root: Path, database_url: str, **kwargs: Any) -> Iterator[DaemonProcess]:
    daemon = DaemonProcess(root, database_url, **kwargs)
    try:
        yield daemon
    finally:
        daemon.close()


class RssSampler:
    """Peak resident set size of a process (and its children), sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = self.process.memory_info().rss
        for child in self.process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Files


def drop_bytes(inbox: Path, name: str, data: bytes) -> Path:
    """Write like a careful producer: a dot-temp name, then an atomic rename."""
    tmp = inbox / f".drop-{secrets.token_hex(6)}.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, inbox / name)
    return inbox / name


def drop_json(inbox: Path, name: str, document: Any) -> Path:
    return drop_bytes(inbox, name, json.dumps(document, ensure_ascii=False).encode())


def make_event(key: str, i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid event with a unique id and distinct content (docs/domain.md §1.3)."""
    day = dt.date(2026, 3, 1) + dt.timedelta(days=i % 200)
    event: dict[str, Any] = {
        "id": f"rel-{key}-{i}",
        "title": f"Zuverlässigkeitstest {key} Nummer {i}",
        "short_description": f"Synthetische Veranstaltung {key}/{i}",
        "event_dates": [{"date": day.isoformat(), "start_time": "19:00"}],
        "location": {"name": f"Halle {key}", "city": f"Prüfstadt-{key}"},
        "source_type": "terminliste",
        "categories": ["fest"],
    }
    event.update(overrides)
    return event


def make_file(events: list[Any], **top: Any) -> dict[str, Any]:
    return {"events": events, "rejected": [], "metadata": {"sourceKey": "reliability"}, **top}


# --------------------------------------------------------------------------------------------
# Database


def engine_for(database_url: str) -> sa.Engine:
    """A test-side engine that holds no connections between queries."""
    return sa.create_engine(database_url, poolclass=sa.pool.NullPool)


def ingestion(engine: sa.Engine, filename: str) -> sa.Row[Any] | None:
    """The latest ``file_ingestions`` row for ``filename``, if any."""
    found = rows(
        engine,
        "SELECT * FROM file_ingestions WHERE filename = :f ORDER BY id DESC LIMIT 1",
        f=filename,
    )
    return found[0] if found else None


def wait_ingested(engine: sa.Engine, filename: str, timeout: float = 60.0) -> sa.Row[Any]:
    return wait_until(lambda: ingestion(engine, filename), timeout, f"{filename!r} to be ingested")


def feed_messages(engine: sa.Engine) -> list[sa.Row[Any]]:
    return rows(engine, "SELECT seq, type, data FROM outbox ORDER BY seq")


# --------------------------------------------------------------------------------------------
# Fast restarts: a fork server with the daemon's modules already imported (see _zygote.py)

ZYGOTE = Path(__file__).with_name("_zygote.py")


class Zygote:
    """Client of ``_zygote.py``; one per test session, shared by the tests that restart a lot."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self._lock = threading.Lock()

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fork server died with {self.proc.poll()}")
        return json.loads(line)

    def spawn(
        self, env: dict[str, str], cwd: Path, log: Path, inject: str | None = None
    ) -> ForkedProcess:
        answer = self.ask(
            {"op": "spawn", "env": env, "cwd": str(cwd), "log": str(log), "inject": inject}
        )
        return ForkedProcess(self, answer["pid"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class ForkedProcess:
    """The parts of ``subprocess.Popen`` the tests use, for a child of the fork server."""

    def __init__(self, zygote: Zygote, pid: int) -> None:
        self.zygote = zygote
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.zygote.ask({"op": "poll", "pid": self.pid})["code"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["eventdedup", "run"], timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
