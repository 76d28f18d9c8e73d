"""The connection banner: visible exactly while the console is not connected."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from eventdedup.client import ConnectionState


class ConnectionBanner(Static):
    """Says what is wrong with the connection and what the client does about it.

    An operator leaves the console open for days: a silent stale screen would
    be worse than none, so a lost connection is shouted across the top, with
    the seq the feed will resume from (the rows below stay, none repeat).
    """

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(f"Connecting to {url} …", **kwargs)
        self.url = url
        self.add_class("connecting")

    def show_state(self, state: ConnectionState) -> None:
        self.remove_class("connecting", "unauthorized", "disconnected")
        if state.connected:
            self.display = False
            return
        self.display = True
        resume = f" · resumes after seq {state.last_seq}" if state.last_seq is not None else ""
        if state.unauthorized:
            self.add_class("unauthorized")
            self.update(
                f"✖ Unauthorized by {state.url}: check the admin token "
                f"(--token-file / EVENT_DEDUP_ADMIN_TOKEN) · retrying{resume}"
            )
            return
        self.add_class("disconnected")
        retry = (
            f"reconnecting in {state.retry_in:.1f}s (attempt {state.attempt})"
            if state.retry_in is not None
            else "not reconnecting"
        )
        error = f" ({state.error})" if state.error else ""
        self.update(f"⚠ Disconnected from {state.url}{error} — {retry}{resume}")
