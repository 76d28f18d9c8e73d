"""What every page (tab) of the console shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from textual.containers import Vertical
from textual.widget import Widget

if TYPE_CHECKING:
    from tui.app import ConsoleApp


class ConsoleView(Vertical):
    """A page: reads the shared state, fetches its own paged data, reacts to the feed.

    Pages that show RPC results load lazily (when first shown) and are marked
    stale by feed messages that concern them, so a page nobody looks at costs
    no requests, and the one in front refreshes itself.
    """

    TAB: ClassVar[str] = ""
    LABEL: ClassVar[str] = ""
    #: Feed message types that make this page's RPC data stale.
    WATCHES: ClassVar[tuple[str, ...]] = ()
    #: Seconds a burst of relevant feed messages is collected before one reload.
    RELOAD_DELAY: ClassVar[float] = 0.5

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(id=self.TAB, **kwargs)
        self.stale = True
        self._reload_timer: Any = None

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    @property
    def is_active(self) -> bool:
        return self.console.active_tab == self.TAB

    def main_widget(self) -> Widget | None:
        """The widget that gets focus when the page is shown."""
        return None

    def activated(self) -> None:
        widget = self.main_widget()
        if widget is not None:
            widget.focus()
        if self.stale:
            self.reload()

    def reload(self) -> None:
        """Fetch this page's data again (pages with RPC data override it)."""
        self.stale = False

    def on_feed(self, messages: list[dict[str, Any]]) -> None:
        """New feed messages (never repeats); default: reload if one concerns us."""
        if self.WATCHES and any(m.get("type") in self.WATCHES for m in messages):
            self.stale = True
            if self.is_active:
                self._schedule_reload()

    def _schedule_reload(self) -> None:
        if self._reload_timer is not None:
            return

        def fire() -> None:
            self._reload_timer = None
            self.reload()

        self._reload_timer = self.set_timer(self.RELOAD_DELAY, fire)

    def connected(self) -> None:
        """The connection (re)opened: what we showed may be outdated."""
        self.stale = True
        if self.is_active:
            self.reload()
