"""The Textual admin console of the eventdedup daemon (``eventdedup tui``).

The app owns one :class:`~tui.state.ConsoleState`.  The backend pushes feed
batches and connection changes in as messages (from its own thread); the app
applies them to the state once and tells each page.  Pages fetch their paged
data with RPC calls awaited in Textual workers, so the UI never waits on the
network.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.theme import Theme
from textual.widgets import Footer, Header, Input, TabbedContent, TabPane

from eventdedup.client import ClientError, ConnectionState
from tui import preferences
from tui.backend import Backend
from tui.commands import ConsoleCommands
from tui.screens.base import ConsoleView
from tui.screens.config import ConfigView
from tui.screens.dashboard import DashboardView
from tui.screens.deadletters import DeadLettersView
from tui.screens.events import EventsView
from tui.screens.feed import FeedView
from tui.screens.help import HelpScreen
from tui.screens.message import MessageScreen
from tui.screens.review import ReviewView
from tui.state import ConsoleState, utcnow
from tui.widgets.banner import ConnectionBanner

VIEWS: tuple[type[ConsoleView], ...] = (
    DashboardView,
    FeedView,
    EventsView,
    ReviewView,
    DeadLettersView,
    ConfigView,
)

TABLE_KEYS: list[BindingType] = [
    ("up,down,pageup,pagedown", "", "move in a table"),
    ("home,end", "", "first / last row"),
    ("enter", "", "open the selected row"),
    ("tab,shift+tab", "", "next / previous control"),
]


class FeedBatch(Message):
    """Feed messages from the backend, in seq order."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        super().__init__()
        self.messages = messages


class ConnectionChanged(Message):
    def __init__(self, state: ConnectionState) -> None:
        super().__init__()
        self.state = state


def default_operator() -> str:
    """Audit rows name who did it; the login name is the honest default."""
    try:
        return f"tui:{getpass.getuser()}"
    except Exception:  # no login name in some containers
        return "tui"


class ConsoleApp(App[None]):
    """k9s-style: a page per key, tables updated in place, ``?`` for help."""

    TITLE = "eventdedup"
    CSS_PATH: ClassVar[list[str | PurePath]] = ["styles/app.tcss", "styles/modals.tcss"]
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('dashboard')", "Dashboard"),
        Binding("2", "show('feed')", "Feed"),
        Binding("3", "show('events')", "Events"),
        Binding("4", "show('review')", "Review"),
        Binding("5", "show('deadletters')", "Dead letters"),
        Binding("6", "show('config')", "Config"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+p", "command_palette", "Commands", show=False, priority=True),
        Binding("colon", "command_palette", "Commands", show=False),
        Binding("ctrl+r,f5", "refresh", "Refresh", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        operator: str | None = None,
        status_interval: float = 30.0,
        blink: bool = True,
        preferences: Path | None = None,
    ) -> None:
        super().__init__()
        #: Where the chosen theme is kept (None: nowhere, e.g. tests and snapshots).
        self.preferences = preferences
        self.backend = backend
        self.state = ConsoleState(clock=clock)
        self.operator = operator or default_operator()
        self.status_interval = status_interval
        self.blink = blink
        self.connection: ConnectionState | None = None
        self.sub_title = backend.url

    # -- layout ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield ConnectionBanner(self.backend.url, id="banner")
        with TabbedContent(id="tabs", initial=f"tab-{VIEWS[0].TAB}"):
            for view in VIEWS:
                with TabPane(view.LABEL, id=f"tab-{view.TAB}"):
                    yield view()
        yield Footer()

    def on_mount(self) -> None:
        if not self.blink:  # snapshots: a blinking cursor is a coin toss per frame
            for box in self.query(Input):
                box.cursor_blink = False
        self._restore_theme()
        self.set_interval(self.status_interval, self._periodic_status)
        self.set_interval(15.0, self.view(DashboardView).refresh_view)
        self.backend.start(self)

    def _restore_theme(self) -> None:
        """The theme picked last time, and keep the next pick (command palette, ctrl+p)."""
        if self.preferences is None:
            return
        theme = preferences.load(self.preferences).get("theme")
        if theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, self._keep_theme)

    def _keep_theme(self, theme: Theme) -> None:
        if self.preferences is None:
            return
        try:
            preferences.save(self.preferences, theme=theme.name)
        except OSError as exc:
            self.notify(f"cannot keep the theme in {self.preferences}: {exc}", severity="warning")

    def on_unmount(self) -> None:
        self.backend.stop()

    def view(self, kind: type[ConsoleView]) -> Any:
        return self.query_one(kind)

    @property
    def views(self) -> list[ConsoleView]:
        return list(self.query(ConsoleView))

    @property
    def active_tab(self) -> str:
        return (self.query_one(TabbedContent).active or "").removeprefix("tab-")

    def active_view(self) -> ConsoleView:
        return self.query_one(f"#{self.active_tab}", ConsoleView)

    # -- the backend's side (Sink: called from the client thread) ----------------------

    def feed_received(self, messages: list[dict[str, Any]]) -> None:
        self.post_message(FeedBatch(messages))

    def connection_changed(self, state: ConnectionState) -> None:
        self.post_message(ConnectionChanged(state))

    def on_feed_batch(self, event: FeedBatch) -> None:
        new = self.state.apply_many(event.messages)
        if not new:
            return
        for view in self.views:
            view.on_feed(new)

    def on_connection_changed(self, event: ConnectionChanged) -> None:
        state = event.state
        self.connection = state
        self.query_one(ConnectionBanner).show_state(state)
        self.sub_title = f"{state.url} · {'connected' if state.connected else 'disconnected'}"
        if state.connected:
            self.refresh_status()
            for view in self.views:
                view.connected()

    # -- RPC ---------------------------------------------------------------------------

    async def rpc(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Await one JSON-RPC call; raises :class:`~eventdedup.client.ClientError`."""
        return await self.backend.call(method, params)

    def report_error(self, what: str, exc: BaseException, *, quiet: bool = False) -> None:
        """Errors are shown, never fatal: an old daemon without a method is still
        worth watching."""
        self.log.warning(f"{what} failed: {exc}")
        if not quiet:
            self.notify(f"{what}: {exc}", title="daemon said no", severity="error")

    def _periodic_status(self) -> None:
        if self.connection is not None and self.connection.connected:
            self.refresh_status()

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        try:
            self.state.apply_status(await self.rpc("status"))
        except ClientError as exc:
            self.state.status_error = str(exc)
            try:  # /health still names the actors (and needs no RPC support)
                self.state.apply_health(await self.backend.health())
            except Exception as health_exc:
                self.log.warning(f"/health failed too: {health_exc}")
        self.view(DashboardView).refresh_view()

    # -- navigation --------------------------------------------------------------------

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.active_view().activated()

    def action_show(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.active != f"tab-{tab}":
            tabs.active = f"tab-{tab}"
        else:
            self.active_view().activated()

    async def _in_view(self, tab: str, action: str) -> None:
        self.action_show(tab)
        await self.run_action(action, self.query_one(f"#{tab}", ConsoleView))

    async def action_feed(self, action: str) -> None:
        await self._in_view("feed", action)

    async def action_events(self, action: str) -> None:
        await self._in_view("events", action)

    async def action_review(self, action: str) -> None:
        await self._in_view("review", action)

    async def action_deadletters(self, action: str) -> None:
        await self._in_view("deadletters", action)

    async def action_dashboard(self, action: str) -> None:
        await self._in_view("dashboard", action)

    def action_refresh(self) -> None:
        self.refresh_status()
        self.active_view().reload()

    def action_help(self) -> None:
        sections: list[tuple[str, list[BindingType]]] = [("Everywhere", list(self.BINDINGS))]
        sections += [(view.LABEL, list(view.BINDINGS)) for view in VIEWS if view.BINDINGS]
        sections.append(("Tables and palette", TABLE_KEYS))
        self.push_screen(HelpScreen(sections))

    def open_event(self, canonical_id: Any) -> None:
        events = self.view(EventsView)
        events.detail_id = str(canonical_id)
        self.action_show("events")
        events.open_event(canonical_id)

    def open_message(self, message: dict[str, Any]) -> None:
        """Enter on a feed row: go to what the message is about."""
        kind, data = str(message.get("type", "")), message.get("data") or {}
        if kind.startswith("canonical.") and data.get("canonical_id") is not None:
            self.open_event(data["canonical_id"])
        elif kind.startswith("review."):
            self.action_show("review")
        elif kind == "file.failed" and data.get("file"):
            self.view(DeadLettersView).select_file(str(data["file"]))
            self.action_show("deadletters")
        else:
            self.push_screen(MessageScreen(message))
