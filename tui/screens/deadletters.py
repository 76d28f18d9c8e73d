"""Page 5: dead-lettered files and retrying them."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable, Static

from eventdedup.client import ClientError
from tui.screens.base import ConsoleView
from tui.screens.confirm import ConfirmScreen
from tui.widgets.deadletter_table import DeadLetterTable


class DeadLettersView(ConsoleView):
    """A retry moves the file back into the inbox; the feed then shows it being
    processed again (or failing again, with the new reason)."""

    TAB = "deadletters"
    LABEL = "5 Dead letters"
    WATCHES = ("file.failed", "deadletter.retried")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry file"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.want_file: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="deadletters-status")
        yield DeadLetterTable(id="deadletters-table")
        yield Static("", id="deadletter-reason")

    def main_widget(self) -> Widget | None:
        return self.query_one(DeadLetterTable)

    def reload(self) -> None:
        super().reload()
        self.load()

    @work(exclusive=True, group="deadletters")
    async def load(self) -> None:
        status = self.query_one("#deadletters-status", Static)
        try:
            result = await self.console.rpc("deadletters.list")
        except ClientError as exc:
            status.update(f"[b red]deadletters.list: {exc}[/]")
            self.console.report_error("deadletters.list", exc, quiet=True)
            return
        items = list(result.get("items") or [])
        status.update(
            f"{len(items)} dead-lettered files · r retry (moves the file back to the inbox)"
        )
        table = self.query_one(DeadLetterTable)
        table.show(items)
        if self.want_file:
            table.select_file(self.want_file)
            self.want_file = None
        self._show_reason()

    def select_file(self, name: str) -> None:
        table = self.query_one(DeadLetterTable)
        if name in table.items:
            table.select_file(name)
        else:
            self.want_file = name

    def _show_reason(self) -> None:
        table = self.query_one(DeadLetterTable)
        name = table.selected_file
        item = table.items.get(name) if name else None
        box = self.query_one("#deadletter-reason", Static)
        if item is None:
            box.update("")
            return
        box.update(
            f"[b]{item['file']}[/b]\nreason: {item.get('reason')}\n"
            f"json path: {item.get('json_path') or '–'} · hash: {item.get('hash')}"
        )

    @on(DataTable.RowHighlighted, "#deadletters-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_reason()

    def action_retry(self) -> None:
        name = self.query_one(DeadLetterTable).selected_file
        if name is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._retry(name), group="deadletter-retry")

        self.app.push_screen(
            ConfirmScreen(
                "deadletters.retry",
                f"Move [b]{name}[/b] back into the inbox to be processed again?",
                confirm="Retry",
            ),
            confirmed,
        )

    async def _retry(self, name: str) -> None:
        try:
            result = await self.console.rpc("deadletters.retry", {"file": name})
        except ClientError as exc:
            self.console.report_error(f"deadletters.retry {name}", exc)
            return
        self.app.notify(f"{name} → {result.get('moved_to')}", title="deadletters.retry")
        self.stale = True
        self._schedule_reload()
