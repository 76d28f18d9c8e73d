"""Wiring: build the actors with their dependencies and run them under a supervisor.

Start order (each waits for the previous one to be ready):

1. ``http``      – so ``/health`` answers (and says why) even while migrating;
2. ``migrator``  – transient: ``alembic upgrade head``, then done;
3. ``feed``      – outbox fan-out, status announcements, database probe;
4. ``processor`` – processes settled files;
5. ``watcher``   – finds settled files in the inbox;
6. ``resolver``  – answers open review items it is sure of (docs/admin.md).

The watcher→processor queue and the feed hub are created here, outside the
actors, so that either side of them can be restarted without losing state.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import attrs
import trio

from eventdedup.actors.activity import FileActivity
from eventdedup.actors.feed import DatabaseHealth, feed, make_hub
from eventdedup.actors.http import http_server
from eventdedup.actors.migrator import migrator
from eventdedup.actors.processor import processor
from eventdedup.actors.resolver import chain_from_settings, resolver
from eventdedup.actors.watcher import watcher
from eventdedup.admin import AdminContext, ConfigSource, ConfiguredDeduplicator, load_admin_token
from eventdedup.config import ConfigError, Settings
from eventdedup.db.embedded import EmbeddedPostgres
from eventdedup.db.engine import Database
from eventdedup.matching import MatchingConfig, MatchingConfigError, load_matching_config
from eventdedup.pipeline import FileProcessor, announce_accepted
from eventdedup.web import limits
from eventdedup.web.app import create_app
from supervisor import ChildSpec, ChildStatus, Restart, Strategy, Supervisor

log = logging.getLogger(__name__)

#: Restart intensity of the daemon's supervisor: more than 5 restarts within 60 s escalates.
MAX_RESTARTS = 5
MAX_SECONDS = 60.0


def load_matching(settings: Settings) -> MatchingConfig:
    """The matching parameters, validated before anything starts."""
    try:
        return load_matching_config(settings.matching_config_path)
    except (MatchingConfigError, OSError) as exc:
        raise ConfigError(
            f"EVENT_DEDUP_MATCHING_CONFIG_PATH ({settings.matching_config_path}): {exc}"
        ) from None


def prepare_folders(settings: Settings) -> dict[str, Path]:
    folders = {
        "inbox": settings.event_data_dir,
        "dead_letters": settings.dead_letter_dir,
        "archive": settings.archive_dir,
        "data": settings.data_dir,
    }
    for path in folders.values():
        path.mkdir(parents=True, exist_ok=True)
    return {k: v.resolve() for k, v in folders.items()}


@attrs.define
class Daemon:
    """The running daemon's parts, exposed for tests and the CLI."""

    settings: Settings
    db: Database
    supervisor: Supervisor
    health: DatabaseHealth
    folders: dict[str, Path]
    admin: AdminContext | None = None
    files: FileProcessor | None = None

    def health_report(self) -> tuple[bool, dict[str, Any]]:
        """200 only when every permanent actor runs and the database answers.

        ``reasons`` says in words why not, so an operator reading ``/health``
        (or a failing container healthcheck) sees the cause, not just a 503.
        """
        actors = [s.to_json() for s in self.supervisor.status()]
        reasons = []
        for a in actors:
            error = f": {a['last_error']}" if a.get("last_error") else ""
            if a["name"] == "migrator" and a["state"] != "completed":
                reasons.append(f"migrations not applied ({a['state']}){error}")
            elif a["restart_policy"] == "permanent" and a["state"] != "running":
                reasons.append(f"actor {a['name']} is {a['state']}{error}")
        if not self.health.ok:
            reasons.append(f"database: {self.health.error}")
        ok = self.supervisor.healthy() and self.health.ok
        return ok, {
            "status": "ok" if ok else "unavailable",
            "reasons": reasons,
            "actors": actors,
            "database": self.health.to_json(),
        }


def build_daemon(settings: Settings, database_url: str) -> Daemon:
    matching = load_matching(settings)
    folders = prepare_folders(settings)
    token = load_admin_token(settings)
    chain = chain_from_settings(settings)
    db = Database.from_url(database_url, threads=settings.db_threads)
    health = DatabaseHealth()
    hub = make_hub(db)
    queue_send, queue_receive = trio.open_memory_channel[Path](1000)
    status_send, status_receive = trio.open_memory_channel[dict[str, Any]](1000)

    def on_change(status: ChildStatus) -> None:
        payload = status.to_json()
        log.info(
            "actor %s is %s",
            status.name,
            payload["state"],
            extra={
                "event": "actor.status",
                "actor": payload["name"],
                "state": payload["state"],
                "restarts": payload["restarts"],
                "last_error": payload["last_error"],
            },
        )
        try:
            status_send.send_nowait(payload)
        except trio.WouldBlock:
            log.warning("status announcement dropped (feed not keeping up)")

    config_source = ConfigSource(
        matching,
        origin=str(settings.matching_config_path)
        if settings.matching_config_path
        else "packaged defaults",
    )
    files = FileProcessor(
        engine=db.engine,
        archive_dir=folders["archive"],
        dead_letter_dir=folders["dead_letters"],
        max_file_bytes=settings.max_file_bytes,
        max_events=settings.max_events_per_file,
        # reads operator overrides (config.set) from the database at every file
        deduplicator=ConfiguredDeduplicator(config_source),
    )

    async def announce(path: Path, size: int) -> None:
        try:
            await db.run(announce_accepted, db.engine, path, size)
            hub.notify()
        except Exception as exc:  # an announcement is never worth losing the file over
            log.warning("could not announce %s: %s", path.name, exc)

    daemon_ref: list[Daemon] = []
    admin = AdminContext(
        db=db,
        hub=hub,
        token=token,
        config=config_source,
        inbox=folders["inbox"],
        dead_letters=folders["dead_letters"],
        replica=lambda: files.replica,
    )
    app = create_app(health=lambda: daemon_ref[0].health_report(), hub=hub, admin=admin)
    activity = FileActivity()  # files first: the resolver waits while a file is committed
    children = [
        ChildSpec(
            "http",
            functools.partial(http_server, app, settings.http_host, settings.http_port),
            # a write to a client that takes nothing ends after SEND_TIMEOUT_SECONDS, then
            # Hypercorn's graceful close: give both before the actor counts as abandoned
            shutdown_timeout=limits.SEND_TIMEOUT_SECONDS + 5.0,
        ),
        ChildSpec(
            "migrator",
            functools.partial(migrator, db, attempts=settings.migrate_attempts),
            restart=Restart.TRANSIENT,
        ),
        ChildSpec("feed", functools.partial(feed, db, hub, health, status_receive)),
        ChildSpec(
            "processor",
            functools.partial(
                processor,
                queue_receive,
                db,
                files,
                on_done=admin.file_done,
                parse_workers=settings.parse_workers,
                batch_files=settings.batch_files,
                score_ahead=settings.score_ahead,
                activity=activity,
            ),
            shutdown_timeout=30.0,
        ),
        ChildSpec(
            "watcher",
            functools.partial(
                watcher,
                folders["inbox"],
                queue_send,
                settle_seconds=settings.settle_seconds,
                poll=settings.watch_poll,
                rescan_seconds=settings.rescan_seconds,
                announce=announce,
            ),
        ),
        ChildSpec(
            "resolver",
            functools.partial(
                resolver,
                db,
                config_source,
                chain,
                admin.metrics,
                lambda: files.replica,
                workers=settings.resolver_concurrency if chain.llm is not None else 1,
                poll=settings.resolver_poll,
                activity=activity,
            ),
        ),
    ]
    sup = Supervisor(
        children,
        strategy=Strategy.ONE_FOR_ONE,
        max_restarts=MAX_RESTARTS,
        max_seconds=MAX_SECONDS,
        on_change=on_change,
        name="eventdedup",
    )
    admin.supervisor = sup
    daemon = Daemon(settings, db, sup, health, folders, admin, files)
    daemon_ref.append(daemon)
    return daemon


async def resolve_database(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or a freshly started embedded server's."""
    if settings.database_url:
        return settings.database_url, None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    embedded = EmbeddedPostgres(
        settings.pgdata_dir, shared_buffers=settings.embedded_shared_buffers
    )
    url = await trio.to_thread.run_sync(embedded.start)
    return url, embedded
