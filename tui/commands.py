"""The command palette (ctrl+p or ``:``): every page and every action by name.

Keys are fast once learnt; the palette is how they are learnt, and how the
rare actions are found without reading the help.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app import ConsoleApp

#: (title, help, action string run on the app)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Show dashboard", "actors, counters, throughput (1)", "show('dashboard')"),
    ("Show feed", "live feed, newest first (2)", "show('feed')"),
    ("Show events", "search canonical events (3)", "show('events')"),
    ("Show review queue", "uncertain matches to decide (4)", "show('review')"),
    ("Show dead letters", "failed files (5)", "show('deadletters')"),
    ("Show matching config", "read-only (6)", "show('config')"),
    ("Help: keys", "every key of every page (?)", "help"),
    ("Refresh", "reload the current page and the status (ctrl+r)", "refresh"),
    ("Feed: pause / resume", "stop the table from moving (p)", "feed('pause')"),
    ("Feed: filter", "filter by text (/)", "feed('filter')"),
    ("Feed: cycle type filter", "all, file.*, canonical.*, … (t)", "feed('cycle_type')"),
    ("Events: search", "server-side search (/)", "events('search')"),
    ("Events: next page", "(])", "events('page(1)')"),
    ("Events: previous page", "([)", "events('page(-1)')"),
    ("Events: change sort", "(o)", "events('cycle_sort')"),
    ("Review: merge", "merge B's canonical into A's (m)", "review('act(\"merge\")')"),
    ("Review: keep separate", "never merge these two (k)", "review('act(\"keep\")')"),
    ("Review: split source off", "take B out of its canonical (s)", "review('act(\"split\")')"),
    ("Review: dismiss", "close the item, change nothing (d)", "review('act(\"dismiss\")')"),
    ("Review: undo", "revert your last review action (u)", "review('act(\"undo\")')"),
    ("Dead letters: retry file", "move it back to the inbox (r)", "deadletters('retry')"),
    ("Dashboard: restart actor", "restart the selected actor (r)", "dashboard('restart_actor')"),
    ("Quit", "leave the console (q)", "quit"),
)


class ConsoleCommands(Provider):
    """Palette entries run app actions, so they behave exactly like the keys."""

    @property
    def console(self) -> ConsoleApp:
        return self.app  # type: ignore[return-value]  # the palette runs only in ConsoleApp

    async def discover(self) -> Hits:
        for title, help_text, action in COMMANDS:
            yield DiscoveryHit(title, partial(self.console.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, action in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.console.run_action, action),
                    help=help_text,
                )
