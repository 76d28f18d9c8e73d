"""``eventdedup web``: the console in a browser, behind the admin token.

The HTTP cases run against a real ``eventdedup web`` process; the browser case
drives Debian's Chromium through chromedriver (selenium) against that process
and a real daemon: log in on the login page, see the dashboard's actor table,
switch to the review page.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests._support.net import free_port
from tests._support.wait import wait_until
from tests.daemon.harness import drop_file
from tests.tui.helpers import DaemonThread
from tests.tui.webconsole import (
    CHROMEDRIVER,
    CHROMIUM,
    READ_RECORDED,
    WebProcess,
    chromium_driver,
    find_binary,
    screen_text,
    screenshot_dirs,
    web_environment,
    web_process,
)
from tui.web import SESSION_COOKIE, Sessions

TOKEN = "web-test-token"


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    """A console server whose daemon is not running (the consoles show that, in red)."""
    data = tmp_path_factory.mktemp("web-data")
    env = web_environment(admin_token=TOKEN, data_dir=str(data), http_port=str(free_port()))
    with web_process(env) as server:
        yield server


@pytest.fixture
def web(web_server: WebProcess) -> str:
    return web_server.url


CONSOLE_MARKERS = ("textual.js", "textual-terminal", "data-session-websocket-url")


def assert_nothing_of_the_console(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for marker in CONSOLE_MARKERS:
        assert marker not in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "path", ["/", "/ws", "/static/js/textual.js", "/static/css/xterm.css", "/download/x", "/x"]
)
def test_without_a_token_nothing_of_the_console(web: str, path: str) -> None:
    response = httpx.get(web + path)
    assert_nothing_of_the_console(response)
    if path == "/":
        assert 'action="/login"' in response.text  # a browser is shown the login form


def test_the_console_websocket_needs_the_token(web: str) -> None:
    upgrade = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
    }
    assert_nothing_of_the_console(httpx.get(web + "/ws?width=80&height=24", headers=upgrade))
    wrong = upgrade | {"Authorization": "Bearer nope"}
    assert_nothing_of_the_console(httpx.get(web + "/ws", headers=wrong))
    stale = upgrade | {"Cookie": f"{SESSION_COOKIE}=made-up"}
    assert_nothing_of_the_console(httpx.get(web + "/ws", headers=stale))


@pytest.mark.parametrize("header", ["Bearer nope", f"Basic {TOKEN}", "Bearer", f"{TOKEN}"])
def test_wrong_authorization_is_401(web: str, header: str) -> None:
    assert_nothing_of_the_console(httpx.get(web + "/", headers={"Authorization": header}))


def test_bearer_token_gets_the_console_page(web: str) -> None:
    response = httpx.get(web + "/", headers={"Authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    for marker in CONSOLE_MARKERS:
        assert marker in response.text
    host = web.removeprefix("http://")
    assert f'data-session-websocket-url="ws://{host}/ws"' in response.text
    behind_tls = httpx.get(
        web + "/",
        headers={"Authorization": f"Bearer {TOKEN}", "X-Forwarded-Proto": "https"},
    )
    assert f'data-session-websocket-url="wss://{host}/ws"' in behind_tls.text
    assert "googleapis" not in response.text  # the font comes from the package, not Google
    font = httpx.get(
        web + "/static/fonts/RobotoMono-VariableFont_wght.ttf",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert font.status_code == 200 and "fonts/RobotoMono-VariableFont_wght.ttf" in response.text
    static = httpx.get(web + "/static/js/textual.js", headers={"Authorization": f"Bearer {TOKEN}"})
    assert static.status_code == 200 and len(static.content) > 10_000


def test_login_with_a_wrong_token_is_401_and_sets_no_cookie(web: str) -> None:
    response = httpx.post(web + "/login", data={"token": "guess"})
    assert_nothing_of_the_console(response)
    assert "Wrong token" in response.text
    assert_nothing_of_the_console(httpx.post(web + "/login", data={}))


def test_login_sets_an_opaque_strict_httponly_cookie_and_logout_ends_it(web: str) -> None:
    with httpx.Client(base_url=web) as client:
        assert client.get("/login").status_code == 200
        response = client.post("/login", data={"token": f" {TOKEN}\n"})  # as pasted
        assert response.status_code == 303 and response.headers["Location"] == "/"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        assert TOKEN not in cookie
        assert "Secure" not in cookie  # plain HTTP here; behind a TLS proxy it is Secure:
        proxied = httpx.post(
            web + "/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"}
        )
        assert "Secure" in proxied.headers["set-cookie"]
        page = client.get("/")
        assert page.status_code == 200 and "textual-terminal" in page.text
        assert page.headers["X-Frame-Options"] == "DENY"
        # a foreign page cannot open the console's websocket with this cookie
        foreign = client.get(
            "/ws",
            headers={
                "Origin": "http://evil.example",
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
            },
        )
        assert foreign.status_code == 403
        session = client.cookies[SESSION_COOKIE]
        assert client.get("/logout").status_code == 303
    assert_nothing_of_the_console(httpx.get(web + "/", cookies={SESSION_COOKIE: session}))


@pytest.mark.asyncio
async def test_each_session_runs_its_own_console_process_until_it_ends(
    web_server: WebProcess,
) -> None:
    assert not web_server.descendants()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        first = await http.ws_connect(web_server.url + "/ws?width=100&height=30")
        second = await http.ws_connect(web_server.url + "/ws?width=100&height=30")
        for ws in (first, second):
            screen = b""
            while b"eventdedup" not in screen:  # the console's header, drawn
                message = await ws.receive(timeout=60)
                assert message.type == aiohttp.WSMsgType.BINARY, message
                screen += message.data
        consoles = web_server.descendants()
        assert len(consoles) >= 2  # one console (under a shell) per session
        await first.close()
        await until(lambda: 0 < len(web_server.descendants()) < len(consoles), "one console")
        await second.close()
        await until(lambda: not web_server.descendants(), "no console")


async def until(condition: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


def test_sessions_expire() -> None:
    now = [1000.0]
    sessions = Sessions(lifetime=60.0, clock=lambda: now[0])
    sid = sessions.create()
    assert sessions.valid(sid) and not sessions.valid(sid + "x") and not sessions.valid(None)
    now[0] += 61
    assert not sessions.valid(sid)
    sessions.create()  # creating a session forgets the expired ones
    assert len(sessions) == 1


def test_web_without_any_token_refuses_to_start(tmp_path: Path) -> None:
    env = web_environment(data_dir=str(tmp_path / "empty"))
    done = subprocess.run(
        [sys.executable, "-m", "eventdedup", "web", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "no admin token" in done.stderr


def test_web_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = web_environment(admin_token=TOKEN, data_dir=str(tmp_path))
        done = subprocess.run(
            [sys.executable, "-m", "eventdedup", "web", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


# ----------------------------------------------------------------- in a browser
def test_log_in_see_the_actor_table_switch_to_review_in_chromium(
    daemon_thread: DaemonThread, corpus_files: list[Path], tmp_path: Path
) -> None:
    chromium, chromedriver = find_binary(CHROMIUM), find_binary(CHROMEDRIVER)
    if not (chromium and chromedriver):
        pytest.skip(
            "Chromium is not installed: apt-get install -y chromium chromium-driver "
            "(.ci/run does) to run the browser test"
        )
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    settings = daemon_thread.settings
    assert settings.admin_token
    drop_file(corpus_files[0], settings.event_data_dir)  # something to see
    env = web_environment(
        admin_token=settings.admin_token,
        http_port=str(settings.http_port),
        data_dir=str(tmp_path / "web-data"),
    )
    with web_process(env) as server:
        base = server.url
        driver = chromium_driver(chromium, chromedriver)
        try:
            driver.get(base + "/")
            # not logged in: the login form, and no console on the page
            assert driver.find_elements(By.ID, "token")
            assert not driver.find_elements(By.CSS_SELECTOR, ".textual-terminal")
            driver.find_element(By.ID, "token").send_keys("not-the-token")
            driver.find_element(By.ID, "login").click()
            # the answer is a new page: wait for it instead of reading the old one's elements
            wait_until(lambda: "Wrong token" in driver.page_source, 20, "the wrong token refused")
            assert "Wrong token" in driver.find_element(By.ID, "error").text
            assert not driver.get_cookies()

            driver.find_element(By.ID, "token").send_keys(settings.admin_token)
            driver.find_element(By.ID, "login").click()
            wait_until(
                lambda: driver.find_elements(By.CSS_SELECTOR, ".textual-terminal"),
                within=20,
                what="the console page",
            )
            cookie = driver.get_cookie(SESSION_COOKIE)
            assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert settings.admin_token not in cookie["value"]

            def screen() -> str:
                return screen_text(driver.execute_script(READ_RECORDED))

            # the dashboard's actor table, with the daemon's actors in it
            wait_until(
                lambda: all(
                    word in screen()
                    for word in ("actor", "restarts", "processor", "watcher", "migrator")
                ),
                within=60,
                what="the actor table in the browser",
            )
            assert "expected benefit" not in screen()  # the review page is not shown yet
            wait_until(
                lambda: (
                    "-first-byte"
                    in (driver.find_element(By.TAG_NAME, "body").get_attribute("class") or "")
                ),
                within=10,
                what="the terminal to be shown",
            )
            for directory in screenshot_dirs(tmp_path):
                driver.save_screenshot(str(directory / "console-browser-dashboard.png"))

            # switch to the review page with its key, as an operator would
            terminal = driver.find_element(By.CSS_SELECTOR, ".xterm-screen")
            ActionChains(driver).click(terminal).send_keys("4").perform()
            wait_until(
                lambda: all(w in screen() for w in ("P(same)", "expected benefit")),
                within=30,
                what="the review page in the browser",
            )
            for directory in screenshot_dirs(tmp_path):
                path = directory / "console-browser-review.png"
                driver.save_screenshot(str(path))
                assert path.stat().st_size > 10_000
        finally:
            driver.quit()
