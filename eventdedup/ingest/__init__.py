"""Ingestion of dropped input files: bytes → validated value objects, plus file helpers.

:mod:`.loader` is pure (no filesystem) so it can be tested exhaustively and run
in a worker thread; :mod:`.files` holds the few filesystem operations the
processor actor needs (hashing, bounded reads, non-overwriting moves,
dead letters, atomic JSON writes).
"""

from eventdedup.ingest.loader import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_EVENTS,
    EventWarning,
    FileRejected,
    LoadedFile,
    RejectedEvent,
    json_safe,
    load_file,
    parse_date,
    parse_time,
    source_code_from_filename,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_EVENTS",
    "EventWarning",
    "FileRejected",
    "LoadedFile",
    "RejectedEvent",
    "json_safe",
    "load_file",
    "parse_date",
    "parse_time",
    "source_code_from_filename",
]
