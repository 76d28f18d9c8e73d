"""Helpers of the browser-console tests: a real ``eventdedup web`` process, and Chromium."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx

from eventdedup.config import PREFIX
from tests._support.net import free_port
from tests._support.wait import wait_until

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("chromedriver", "chromium-driver")

# Records every binary frame the page's websockets receive (the console's
# terminal output) before textual.js hands it to xterm.js, which draws on a
# canvas: the only place the test can read the screen's text from.
RECORD_WEBSOCKET = """
(() => {
  const Native = window.WebSocket;
  window.__consoleBytes = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (e) => {
        if (typeof e.data !== "string") window.__consoleBytes.push(new Uint8Array(e.data));
      });
    }
  };
})();
"""

READ_RECORDED = """
const parts = window.__consoleBytes || [];
const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
let at = 0;
for (const p of parts) { all.set(p, at); at += p.length; }
return new TextDecoder().decode(all);
"""

# CSI, OSC and two-character escape sequences of the terminal stream
ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")


def screen_text(stream: str) -> str:
    return ESCAPES.sub("", stream)


def find_binary(names: tuple[str, ...]) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def web_environment(**settings: str) -> dict[str, str]:
    """This process's environment without its EVENT_DEDUP_* names, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PREFIX)}
    env.update({PREFIX + k.upper(): v for k, v in settings.items()})
    return env


@attrs.frozen
class WebProcess:
    url: str
    pid: int

    def descendants(self) -> set[int]:
        """Processes below it (each browser session's console, under a shell)."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                parents[int(stat.parent.name)] = int(fields[1])
        found: set[int] = set()
        frontier = {self.pid}
        while frontier:
            frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
            found |= frontier
        return found


@contextlib.contextmanager
def web_process(env: dict[str, str], *args: str) -> Iterator[WebProcess]:
    """``eventdedup web`` on a free loopback port, once it answers."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "eventdedup", "web", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def answering() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"eventdedup web exited: {proc.stdout.read()}")  # type: ignore[union-attr]
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(base + "/login", timeout=2).status_code == 200
            return False

        wait_until(answering, 30, "eventdedup web to answer /login")
        yield WebProcess(base, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def chromium_driver(chromium: str, chromedriver: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        # hermetic: nothing but the loopback server (the page also names a web font)
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_WEBSOCKET})
    return driver


def screenshot_dirs(tmp_path: Path) -> list[Path]:
    """Always the test's tmp dir; also EVENTDEDUP_SCREENSHOT_DIR (to refresh docs/)."""
    extra = os.environ.get("EVENTDEDUP_SCREENSHOT_DIR")
    return [tmp_path, *([Path(extra)] if extra else [])]
