"""A real daemon in a thread, for the console tests (which run under asyncio)."""

from __future__ import annotations

import contextlib
import threading

import trio

from eventdedup.config import Settings
from eventdedup.daemon import Daemon, build_daemon


class DaemonThread:
    """``build_daemon`` + ``supervisor.run`` under ``trio.run`` in a thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.daemon: Daemon | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="daemon", daemon=True)

    def start(self, timeout: float = 60.0) -> DaemonThread:
        self._thread.start()
        if not self._ready.wait(timeout) or self.error is not None:
            raise RuntimeError(f"daemon did not start: {self.error!r}")
        return self

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:  # reported to the test through start()/stop()
            self.error = exc
            self._ready.set()

    async def _main(self) -> None:
        assert self.settings.database_url
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        daemon = build_daemon(self.settings, self.settings.database_url)
        self.daemon = daemon
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(daemon.supervisor.run)
                self._ready.set()
                await self._stop.wait()
                daemon.supervisor.stop()
        finally:
            daemon.db.dispose()

    def stop(self, timeout: float = 60.0) -> None:
        if self._token is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "daemon thread did not stop"
