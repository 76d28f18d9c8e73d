"""``eventdedup validate``: the daemon's checks on a file, without a database.

The file is read exactly as the processor reads an inbox entry
(:func:`eventdedup.pipeline.parse_file`: symlink and size checks, decoding,
JSON, the schema of every event), so a file that passes here is accepted by
the daemon and a file that fails gets the same reason its dead letter would
carry.  The one check that needs the store is not made: an ``id`` already
stored with different content (docs/domain.md §17 item 20).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from eventdedup.ingest.files import is_candidate_name
from eventdedup.pipeline import parse_file


@attrs.frozen
class Verdict:
    """What the daemon would do with one file."""

    file: str
    #: The whole file would be dead-lettered with this reason (None: accepted).
    reason: str | None = None
    json_path: str | None = None
    events: int = 0
    #: Quarantined events as their ``.error.json`` lists them: index, id, reason, json_path.
    rejected: tuple[dict[str, Any], ...] = ()
    #: Values dropped from accepted events (the event itself is kept).
    warnings: tuple[dict[str, Any], ...] = ()
    #: The watcher would not even pick the name up (dot-file, not ``*.json``, a sidecar …).
    ignored: bool = False

    @property
    def ok(self) -> bool:
        return self.reason is None and not self.rejected and not self.ignored

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ok": self.ok}


def validate_file(path: Path, max_file_bytes: int, max_events: int) -> Verdict:
    name = path.name
    if not is_candidate_name(name):
        return Verdict(
            name,
            reason="the daemon ignores this name (it takes '*.json' files only, not hidden "
            "files, '*.tmp.json', '*.part.json' or '*.error.json')",
            ignored=True,
        )
    parsed = parse_file(path, max_file_bytes, max_events)
    if parsed.vanished:
        return Verdict(name, reason="no such file")
    if parsed.failure is not None:
        reason, json_path = parsed.failure
        return Verdict(name, reason=reason, json_path=json_path)
    assert parsed.loaded is not None
    loaded = parsed.loaded
    return Verdict(
        name,
        events=loaded.event_count,
        rejected=tuple(
            {"index": r.index, "id": r.event_id, "reason": r.reason, "json_path": r.json_path}
            for r in loaded.rejected
        ),
        warnings=tuple(
            {"index": w.index, "id": w.event_id, "message": w.message, "json_path": w.json_path}
            for w in loaded.warnings
        ),
    )


def format_verdict(verdict: Verdict) -> str:
    """Lines for people: ``ok``/``FAIL``, then one line per quarantined event or warning."""
    if verdict.reason is not None:
        at = f" (at {verdict.json_path})" if verdict.json_path else ""
        return f"FAIL {verdict.file}: {verdict.reason}{at}"
    accepted = verdict.events - len(verdict.rejected)
    if verdict.rejected:
        head = (
            f"FAIL {verdict.file}: {len(verdict.rejected)} of {verdict.events} events would be "
            f"quarantined, {accepted} accepted"
        )
    else:
        head = f"ok   {verdict.file}: {verdict.events} events"
    lines = [head]
    for r in verdict.rejected:
        ident = f" id {r['id']!r}" if r["id"] is not None else ""
        lines.append(f"     {r['json_path']}{ident}: {r['reason']}")
    for w in verdict.warnings:
        lines.append(f"     warning {w['json_path']} id {w['id']!r}: {w['message']}")
    return "\n".join(lines)
