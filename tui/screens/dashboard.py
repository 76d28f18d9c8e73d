"""Page 1: the supervisor tree, counters and throughput."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Static

from eventdedup.client import ClientError
from tui.formatting import short_time
from tui.screens.base import ConsoleView
from tui.screens.confirm import ConfirmScreen
from tui.widgets.actor_table import ActorTable
from tui.widgets.counters import CounterPanel
from tui.widgets.throughput import ThroughputPanel


class DashboardView(ConsoleView):
    """Everything here is live from the feed; ``status`` (on connect and every
    ``status_interval``) only corrects it, so the page never waits on RPC."""

    TAB = "dashboard"
    LABEL = "1 Dashboard"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "restart_actor", "Restart actor"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="dashboard-status")
        yield CounterPanel(id="counters")
        actors = ActorTable(id="actors")
        actors.border_title = "supervisor eventdedup · one_for_one"
        yield actors
        yield ThroughputPanel(id="throughput")

    def main_widget(self) -> Widget | None:
        return self.query_one(ActorTable)

    def on_mount(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        state = self.console.state
        self.query_one(ActorTable).show(state.actors)
        self.query_one(CounterPanel).show(state.counters)
        self.query_one(ThroughputPanel).show(state.events_per_minute(30))
        parts = []
        if state.status_at is not None:
            parts.append(f"status at {short_time(state.status_at.isoformat())}")
        if state.feed_head is not None:
            parts.append(f"feed head {state.feed_head}")
        if state.last_seq is not None:
            parts.append(f"last seen seq {state.last_seq}")
        if state.feed_clients is not None:
            parts.append(f"{state.feed_clients} feed clients")
        if state.replica:
            parts.append(f"replica {state.replica}")
        status = self.query_one("#dashboard-status", Static)
        if state.status_error:
            parts.append(f"[b red]status: {state.status_error}[/]")
        status.update(" · ".join(parts) or "waiting for the daemon…")

    def on_feed(self, messages: list[dict[str, Any]]) -> None:
        self.refresh_view()

    def action_restart_actor(self) -> None:
        name = self.query_one(ActorTable).selected
        if name is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._restart(name), group="actor-restart")

        self.app.push_screen(
            ConfirmScreen(
                "Restart actor",
                f"Restart actor [b]{name}[/b]? Its supervisor stops it and "
                "starts it again; work in flight is retried.",
                confirm="Restart",
            ),
            confirmed,
        )

    async def _restart(self, name: str) -> None:
        try:
            result = await self.console.rpc("actor.restart", {"name": name})
        except ClientError as exc:
            self.console.report_error(f"actor.restart {name}", exc)
            return
        self.app.notify(
            f"{result.get('name', name)}: {result.get('state', 'restarting')}",
            title="actor.restart",
        )
