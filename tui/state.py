"""The console's model of the daemon, built from feed messages and ``status``.

Kept free of Textual so it can be unit-tested and so every view reads one
source of truth: the app applies each feed message here once, then asks the
views to redraw from it.  The counters move with the feed between ``status``
refreshes (which correct any drift), so the dashboard is live without polling.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs

COUNTER_KEYS = (
    "files_processed",
    "files_failed",
    "events",
    "canonicals",
    "review_open",
    "dead_letters",
)

#: How each feed message type moves the counters until the next ``status``.
_COUNTER_EFFECTS: dict[str, Callable[[dict[str, Any]], dict[str, int]]] = {
    "file.processed": lambda d: {
        "files_processed": 1,
        "events": int(d.get("events_accepted") or 0),
    },
    "file.failed": lambda d: {"files_failed": 1, "dead_letters": 1},
    "canonical.created": lambda d: {"canonicals": 1},
    "canonical.merged": lambda d: {"canonicals": -1},
    "canonical.removed": lambda d: {"canonicals": -1},
    # no "canonical.split": the re-clustering behind a split announces the canonical it
    # creates (canonical.created) or empties (canonical.removed) itself
    "review.flagged": lambda d: {"review_open": 1},
    "review.resolved": lambda d: {"review_open": -1},
    "deadletter.retried": lambda d: {"dead_letters": -1},
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def minute(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(second=0, microsecond=0)


@attrs.define
class ConsoleState:
    """Everything the views show that does not come from a paged RPC."""

    clock: Callable[[], dt.datetime] = utcnow
    feed_limit: int = 2000
    actors: dict[str, dict[str, Any]] = attrs.Factory(dict)
    counters: dict[str, int] = attrs.Factory(lambda: dict.fromkeys(COUNTER_KEYS, 0))
    feed: deque[dict[str, Any]] = attrs.Factory(deque)
    last_seq: int | None = None
    feed_head: int | None = None
    feed_clients: int | None = None
    replica: Any = None
    status_at: dt.datetime | None = None
    status_error: str | None = None
    throughput: dict[dt.datetime, int] = attrs.Factory(dict)

    def apply(self, message: dict[str, Any]) -> bool:
        """Take one feed message; ``False`` (and no effect) if it was already seen.

        The client already skips repeats after a resume; checking again here
        keeps the promise "no duplicate rows" even if a backend misbehaves.
        """
        seq = message.get("seq")
        if isinstance(seq, int):
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self.last_seq = seq
        self.feed.append(message)
        while len(self.feed) > self.feed_limit:
            self.feed.popleft()
        kind, data = message.get("type", ""), message.get("data") or {}
        if kind == "actor.status" and data.get("name"):
            self.actors[data["name"]] = dict(data)
        effect = _COUNTER_EFFECTS.get(kind)
        if effect is not None:
            for key, delta in effect(data).items():
                self.counters[key] = max(0, self.counters.get(key, 0) + delta)
        if kind == "file.processed":
            at = parse_time(message.get("at")) or self.clock()
            bucket = minute(at)
            self.throughput[bucket] = self.throughput.get(bucket, 0) + int(
                data.get("events_accepted") or 0
            )
            self._trim_throughput()
        return True

    def apply_many(self, messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Apply in order; return the messages that were new."""
        return [m for m in messages if self.apply(m)]

    def apply_status(self, result: dict[str, Any]) -> None:
        """Replace actors and counters with the daemon's own view (``status`` RPC)."""
        actors = result.get("actors") or []
        self.actors = {a["name"]: dict(a) for a in actors if isinstance(a, dict) and "name" in a}
        counters = result.get("counters") or {}
        for key in COUNTER_KEYS:
            if isinstance(counters.get(key), int):
                self.counters[key] = counters[key]
        feed = result.get("feed") or {}
        self.feed_head = feed.get("head")
        self.feed_clients = feed.get("clients")
        self.replica = result.get("replica")
        self.status_at = self.clock()
        self.status_error = None

    def apply_health(self, report: dict[str, Any]) -> None:
        """Actors from ``/health``: the fallback when ``status`` is not available."""
        actors = report.get("actors") or []
        if actors:
            self.actors = {
                a["name"]: dict(a) for a in actors if isinstance(a, dict) and "name" in a
            }

    def events_per_minute(self, minutes: int = 30) -> list[int]:
        """Accepted events per minute for the last ``minutes`` minutes, oldest first."""
        now = minute(self.clock())
        return [
            self.throughput.get(now - dt.timedelta(minutes=i), 0)
            for i in range(minutes - 1, -1, -1)
        ]

    def _trim_throughput(self, keep_minutes: int = 120) -> None:
        if len(self.throughput) <= keep_minutes:
            return
        for key in sorted(self.throughput)[:-keep_minutes]:
            del self.throughput[key]
