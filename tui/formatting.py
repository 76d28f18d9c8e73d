"""How feed messages, states and values read on screen (shared by the views)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.text import Text

from tui.state import parse_time

#: Actor state → style; the dashboard colours rows with these.
STATE_STYLES = {
    "running": "bold green",
    "completed": "cyan",
    "starting": "yellow",
    "pending": "yellow",
    "backing-off": "bold dark_orange",
    "stopping": "yellow",
    "stopped": "dim",
    "failed": "bold red",
}

#: Feed message type → style of its type column.
TYPE_STYLES = {
    "file.accepted": "dim",
    "file.processed": "green",
    "file.duplicate": "yellow",
    "file.failed": "bold red",
    "actor.status": "magenta",
    "canonical.created": "cyan",
    "canonical.updated": "cyan",
    "canonical.merged": "bold cyan",
    "canonical.split": "bold cyan",
    "canonical.removed": "dark_orange",
    "review.flagged": "bold yellow",
    "review.resolved": "yellow",
    "review.resolver": "magenta",
    "config.changed": "blue",
    "deadletter.retried": "blue",
}

FEED_TYPES = tuple(TYPE_STYLES)


def styled_state(state: str | None) -> Text:
    return Text(state or "?", style=STATE_STYLES.get(state or "", ""))


def styled_type(kind: str) -> Text:
    return Text(kind, style=TYPE_STYLES.get(kind, ""))


def short_time(value: Any) -> str:
    """``HH:MM:SS`` in UTC, the same on every operator's screen and in every snapshot."""
    at = parse_time(value)
    return at.astimezone(dt.UTC).strftime("%H:%M:%S") if at else ""


def short_date(value: Any) -> str:
    if not value:
        return ""
    return str(value)[:10]


#: German weekday abbreviations, Monday first (``date.weekday()``).
WEEKDAYS = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


def _day(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _clock(value: Any) -> str:
    """``19:00:00`` → ``19:00``."""
    return str(value)[:5] if value else ""


def date_range(start: dt.date, end: dt.date) -> str:
    """``09.–11.02.2026``, ``28.02.–02.03.2026``, ``30.12.2026–02.01.2027``."""
    if start.year != end.year:
        return f"{start:%d.%m.%Y}–{end:%d.%m.%Y}"
    if start.month != end.month:
        return f"{start:%d.%m.}–{end:%d.%m.%Y}"
    return f"{start:%d.}–{end:%d.%m.%Y}"


def human_date(entry: Any) -> str:
    """One ``event_dates`` entry as people read it: ``Mo 09.02.2026 19:00–21:00``.

    A multi-day entry is a range without weekday (``09.–11.02.2026``); an entry
    that is not a date object is shown as it came.
    """
    if not isinstance(entry, dict):
        return str(entry)
    start = _day(entry.get("date"))
    if start is None:
        return str(entry.get("date") or "")
    end = _day(entry.get("end_date"))
    text = (
        date_range(start, end)
        if end is not None and end != start
        else f"{WEEKDAYS[start.weekday()]} {start:%d.%m.%Y}"
    )
    begins, ends = _clock(entry.get("start_time")), _clock(entry.get("end_time"))
    if begins and ends:
        text += f" {begins}–{ends}"
    elif begins:
        text += f" {begins}"
    elif ends:
        text += f" bis {ends}"
    return text


def human_dates(value: Any) -> str:
    """A ``dates`` list (one entry per date line), comma-separated."""
    if isinstance(value, list | tuple):
        return ", ".join(human_date(v) for v in value)
    return human_date(value) if isinstance(value, dict) else str(value or "")


def shorten(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def summarize(message: dict[str, Any]) -> str:
    """One line saying what a feed message means to an operator."""
    kind, d = message.get("type", ""), message.get("data") or {}
    if kind == "file.accepted":
        return f"{d.get('file')} accepted ({d.get('size', '?')} bytes)"
    if kind == "file.processed":
        rejected = d.get("events_rejected") or 0
        skipped = d.get("events_skipped") or 0
        extra = "".join(
            [
                f", {rejected} rejected" if rejected else "",
                f", {skipped} skipped" if skipped else "",
            ]
        )
        return (
            f"{d.get('file')}: {d.get('events_accepted', 0)}/{d.get('events', 0)} events"
            f"{extra} in {d.get('duration_ms', '?')} ms"
        )
    if kind == "file.duplicate":
        return f"{d.get('file')} duplicate of {d.get('duplicate_of')}"
    if kind == "file.failed":
        return f"{d.get('file')}: {d.get('reason')}"
    if kind == "actor.status":
        error = f" — {d.get('last_error')}" if d.get("last_error") else ""
        return f"{d.get('name')} {d.get('state')} (restarts {d.get('restarts', 0)}){error}"
    if kind in ("canonical.created", "canonical.updated"):
        changed = f" changed {', '.join(d['changed'])}" if d.get("changed") else ""
        return (
            f"{d.get('canonical_id')} “{shorten(d.get('title'), 40)}” {d.get('city') or ''}"
            f" {short_date(d.get('first_date'))} ×{d.get('source_count', '?')}{changed}"
        )
    if kind == "canonical.merged":
        return f"{d.get('merged')} merged into {d.get('canonical_id')}"
    if kind == "canonical.split":
        return (
            f"{d.get('source_event_id', 'source')} split off {d.get('canonical_id')}"
            f" → {d.get('new_canonical_id', '?')}"
        )
    if kind == "canonical.removed":
        return f"{d.get('canonical_id')} removed"
    if kind == "review.flagged":
        ids = ", ".join(str(i) for i in d.get("event_ids") or [])
        weight = (
            f"P(same)={_num(d['probability'])}"
            if d.get("probability") is not None
            else f"u={_num(d.get('uncertainty'))}"
        )
        return (
            f"review {d.get('review_id')} {d.get('kind')} {weight} [{ids}] {d.get('reason') or ''}"
        )
    if kind == "review.resolved":
        by = d.get("operator") or d.get("settled_by")
        return f"review {d.get('review_id')} {d.get('action') or d.get('state') or 'resolved'}" + (
            f" by {by}" if by else ""
        )
    if kind == "review.resolver":
        return (
            f"review {d.get('review_id')} {d.get('operator')}: "
            f"{'same' if d.get('same') else 'different'} ({_num(d.get('confidence'))}) "
            f"{d.get('reason') or ''}"
        )
    if kind == "deadletter.retried":
        return f"{d.get('file')} back to the inbox"
    if kind == "config.changed":
        return "matching config changed"
    return shorten(d, 80)


def _num(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else str(value)


def number(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
