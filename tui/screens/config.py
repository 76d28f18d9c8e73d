"""Page 6: the matching configuration the daemon uses (read-only)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from eventdedup.client import ClientError
from tui.screens.base import ConsoleView
from tui.widgets.document import DocumentView


class ConfigView(ConsoleView):
    """Read-only on purpose: a threshold typed into a console applies to every
    file from then on; changing it belongs in a reviewed YAML file."""

    TAB = "config"
    LABEL = "6 Config"
    WATCHES = ("config.changed",)

    def compose(self) -> ComposeResult:
        yield Static("", id="config-status")
        with VerticalScroll(id="config-scroll"):
            yield DocumentView(id="config-body")

    def main_widget(self) -> Widget | None:
        return self.query_one("#config-scroll")

    def reload(self) -> None:
        super().reload()
        self.load()

    @work(exclusive=True, group="config")
    async def load(self) -> None:
        status = self.query_one("#config-status", Static)
        body = self.query_one(DocumentView)
        try:
            result: dict[str, Any] = await self.console.rpc("config.get")
        except ClientError as exc:
            body.show(None, error=f"config.get: {exc}")
            status.update("")
            return
        status.update(f"matching configuration · source: {result.get('source') or '?'} · read-only")
        body.show(result.get("matching"))
