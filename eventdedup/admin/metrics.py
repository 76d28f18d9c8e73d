"""Prometheus metrics, one registry per app (tests run several daemons in one process).

Two kinds of numbers:

* what *this replica* did — files by outcome, per-file processing time, RPC
  calls, authentication failures — as counters/histograms updated when it
  happens (Prometheus sums replicas);
* what the *shared store* holds — events, canonicals, open review items —
  read from PostgreSQL at scrape time by :meth:`Metrics.refresh` (the same
  value on every replica; use ``max`` across replicas, not ``sum``), plus the
  process-local view: feed clients, outbox head, dead letters, actor restarts.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import attrs
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

PREFIX = "eventdedup_"
#: Per-file processing time buckets (seconds): one file takes ~0.5–10 s.
FILE_SECONDS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)


class _LiveCollector(Collector):
    """Values read at scrape time from in-process state (no polling, no staleness)."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        values = self.read()
        restarts = CounterMetricFamily(
            PREFIX + "actor_restarts",
            "Restarts of each supervised actor since start",
            labels=["actor"],
        )
        for name, count in sorted(values.get("actor_restarts", {}).items()):
            restarts.add_metric([name], float(count))
        yield restarts
        running = GaugeMetricFamily(
            PREFIX + "actor_up", "1 if the actor is running", labels=["actor"]
        )
        for name, up in sorted(values.get("actor_up", {}).items()):
            running.add_metric([name], 1.0 if up else 0.0)
        yield running
        yield GaugeMetricFamily(
            PREFIX + "feed_clients",
            "Connected websocket feed clients",
            value=float(values.get("feed_clients", 0)),
        )
        yield GaugeMetricFamily(
            PREFIX + "feed_head_seq",
            "Last outbox sequence number this replica delivered",
            value=float(values.get("feed_head", 0)),
        )
        yield GaugeMetricFamily(
            PREFIX + "dead_letters",
            "Files waiting in the dead-letter folder",
            value=float(values.get("dead_letters", 0)),
        )


#: Store counters read at scrape time: key in :meth:`Metrics.set_store` -> (name, help).
STORE_GAUGES = {
    "events": ("source_events", "Source events stored (shared by all replicas)"),
    "canonicals": ("canonical_events", "Canonical events (shared by all replicas)"),
    "review_open": ("review_queue_size", "Open review items (shared by all replicas)"),
    "files_processed": ("stored_files_completed", "Files recorded as processed (shared)"),
    "files_failed": ("stored_files_failed", "Files recorded as failed (shared)"),
}


def build_version() -> str:
    try:
        return version("eventdedup")
    except PackageNotFoundError:  # running from a tree that was never installed
        return "unknown"


@attrs.define(eq=False)
class Metrics:
    """The registry and the instruments the daemon updates."""

    registry: CollectorRegistry = attrs.field(factory=lambda: CollectorRegistry(auto_describe=True))
    live: Callable[[], Mapping[str, Any]] = lambda: {}
    files: Counter = attrs.field(init=False)
    file_seconds: Histogram = attrs.field(init=False)
    rpc_calls: Counter = attrs.field(init=False)
    auth_failures: Counter = attrs.field(init=False)
    store: dict[str, Gauge] = attrs.field(init=False)
    database_up: Gauge = attrs.field(init=False)
    resolver_decisions: Counter = attrs.field(init=False)
    resolver_seconds: Histogram = attrs.field(init=False)
    resolver_cache_hits: Counter = attrs.field(init=False)
    resolver_budget_left: Gauge = attrs.field(init=False)
    resolver_overrides: Gauge = attrs.field(init=False)
    resolver_agreement: Gauge = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        r = self.registry
        self.files = Counter(
            PREFIX + "files", "Files handled by this replica, by outcome", ["outcome"], registry=r
        )
        self.file_seconds = Histogram(
            PREFIX + "file_processing_seconds",
            "Time to process one file (read, store, match, commit)",
            buckets=FILE_SECONDS_BUCKETS,
            registry=r,
        )
        self.rpc_calls = Counter(
            PREFIX + "rpc_requests",
            "JSON-RPC requests by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.auth_failures = Counter(
            PREFIX + "auth_failures", "Rejected admin credentials", ["surface"], registry=r
        )
        self.store = {
            key: Gauge(PREFIX + name, text, registry=r)
            for key, (name, text) in STORE_GAUGES.items()
        }
        self.database_up = Gauge(
            PREFIX + "database_up", "1 if the last scrape could read the database", registry=r
        )
        self.resolver_decisions = Counter(
            PREFIX + "resolver_decisions",
            "Review items a resolver looked at, by resolver and answer "
            "(merge, keep_separate, split, keep_together, unsure, refused, failed)",
            ["resolver", "answer"],
            registry=r,
        )
        self.resolver_seconds = Histogram(
            PREFIX + "resolver_seconds",
            "Time a resolver took to answer one item",
            ["resolver"],
            registry=r,
        )
        self.resolver_cache_hits = Counter(
            PREFIX + "resolver_cache_hits", "LLM answers served from the cache", registry=r
        )
        self.resolver_budget_left = Gauge(
            PREFIX + "resolver_budget_left", "LLM requests left in today's budget", registry=r
        )
        self.resolver_overrides = Gauge(
            PREFIX + "resolver_overrides",
            "Resolver decisions undone since (shared by all replicas)",
            registry=r,
        )
        self.resolver_agreement = Gauge(
            PREFIX + "resolver_learned_agreement",
            "Share of operators' answers the learned resolver gave itself at its last training",
            registry=r,
        )
        for outcome in ("processed", "duplicate", "failed"):
            self.files.labels(outcome)  # present (as 0) before the first file
        r.register(_LiveCollector(lambda: self.live()))
        # process_* (CPU, memory, open fds) and python_gc_* like the default registry has
        ProcessCollector(registry=r)
        GCCollector(registry=r)
        build = Gauge(
            PREFIX + "build_info",
            "Always 1; the labels name the running build",
            ["version", "python"],
            registry=r,
        )
        build.labels(build_version(), platform.python_version()).set(1)

    def file_done(self, outcome: str, duration_ms: int) -> None:
        self.files.labels(outcome).inc()
        if outcome in ("processed", "failed"):
            self.file_seconds.observe(max(duration_ms, 0) / 1000.0)

    def set_store(self, counts: Mapping[str, int] | None) -> None:
        """Record what the store holds; ``None`` = the database could not be read."""
        if counts is None:
            self.database_up.set(0)
            return
        self.database_up.set(1)
        for key, value in counts.items():
            if key in self.store:
                self.store[key].set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)
