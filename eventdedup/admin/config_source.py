"""The matching configuration in force, shared by the processor and the admin commands.

The daemon starts from its file (or the packaged defaults); ``config.set``
stores an operator's *overrides* in ``config_settings`` and every replica
applies them from its next file.  Why overrides and not a full copy: the file
stays the base (an operator's partial change never silently drops the file's
settings, docs/domain.md §17 item 23) and ``config.get`` can tell which values came
from where.

Why the database and not a message to the processor: replicas share nothing
but PostgreSQL, and reading a one-row table inside the file's transaction,
under the matching lock, is exactly "from the next file" on every replica.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from eventdedup.db.dedup import DbDeduplicator, Messages
from eventdedup.db.locks import share_matching
from eventdedup.db.tables import config_settings
from eventdedup.matching import MatchingConfig
from eventdedup.matching.config import deep_merge
from eventdedup.model import Listing

MATCHING_KEY = "matching"


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """Dotted key paths whose values differ (for ``config.changed`` and the audit log)."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        paths: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            paths += changed_paths(before.get(key), after.get(key), f"{prefix}{key}.")
        return paths
    return [] if before == after else [prefix.rstrip(".")]


class ConfigSource:
    """Base configuration + persisted overrides, cached by version."""

    def __init__(self, base: MatchingConfig, origin: str) -> None:
        self.base = base
        self.origin = origin
        self._lock = threading.Lock()
        self._cached: tuple[int, dict[str, Any], MatchingConfig] = (0, {}, base)

    def load(self, conn: Connection) -> tuple[int, dict[str, Any], MatchingConfig]:
        """``(version, overrides, effective config)``; version 0 = nothing persisted."""
        row = conn.execute(
            sa.select(config_settings.c.version, config_settings.c.value).where(
                config_settings.c.key == MATCHING_KEY
            )
        ).first()
        version = row.version if row is not None else 0
        with self._lock:
            cached = self._cached
        if cached[0] == version:
            return cached
        overrides = dict(row.value) if row is not None else {}
        effective = self.build(overrides)
        with self._lock:
            self._cached = (version, overrides, effective)
        return version, overrides, effective

    def current(self, conn: Connection) -> MatchingConfig:
        return self.load(conn)[2]

    def build(self, overrides: Mapping[str, Any]) -> MatchingConfig:
        """Validate: raises ``MatchingConfigError`` naming the key path."""
        if not overrides:
            return self.base
        return MatchingConfig.from_json(deep_merge(self.base.to_json(), overrides))


class ConfiguredDeduplicator(DbDeduplicator):
    """``DbDeduplicator`` that takes its configuration from a :class:`ConfigSource`.

    The processor uses it so ``config.set`` applies from the next file on every
    replica; the admin commands use it so their re-clustering applies the same
    parameters and the same review-queue rule as the processor.
    """

    def __init__(self, source: ConfigSource, cfg: MatchingConfig | None = None) -> None:
        super().__init__(cfg if cfg is not None else source.base)
        self.source = source

    # ``*args/**kwargs`` pass through whatever else the base class takes (e.g. timings),
    # so this wrapper does not have to change with it.
    def apply(
        self, conn: Connection, events: Sequence[Listing], *args: Any, **kwargs: Any
    ) -> Messages:
        if events:
            # Under the matching lock, shared (config.set takes it exclusive), so a
            # concurrent config.set is either entirely before this file or entirely after it.
            share_matching(conn)
            self.cfg = self.source.current(conn)
        return super().apply(conn, events, *args, **kwargs)
