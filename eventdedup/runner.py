"""Entry points that own a database for their lifetime: the daemon, migrate, ingest."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from eventdedup.actors.processor import processor as processor_actor
from eventdedup.admin import ConfigSource, ConfiguredDeduplicator
from eventdedup.config import Settings
from eventdedup.daemon import build_daemon, load_matching, prepare_folders, resolve_database
from eventdedup.db.engine import Database
from eventdedup.db.migrate import upgrade_head
from eventdedup.ingest.files import backlog_files
from eventdedup.pipeline import FileOutcome, FileProcessor
from supervisor import serve_until_signal

log = logging.getLogger(__name__)


@asynccontextmanager
async def database_url(settings: Settings) -> AsyncIterator[str]:
    """The database for this run; an embedded server is stopped again afterwards."""
    url, embedded = await resolve_database(settings)
    try:
        yield url
    finally:
        if embedded is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(embedded.stop)


async def run_daemon(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT; the stop takes at most the actors' shutdown timeouts.

    An actor still busy after its timeout (the processor in a file that takes
    longer) is abandoned by the supervisor, but ``trio.run`` would still wait
    for its worker thread. So the process exits without it: what that thread
    had not committed is rolled back by the database (the connection closes),
    and its file, still in the inbox, is processed again at the next start.
    """
    abandoned: list[str] = []
    async with database_url(settings) as url:
        daemon = build_daemon(settings, url)
        try:
            log.info(
                "eventdedup starting",
                extra={
                    "event": "daemon.start",
                    "http": f"{settings.http_host}:{settings.http_port}",
                    **{k: str(v) for k, v in daemon.folders.items()},
                },
            )
            await serve_until_signal(daemon.supervisor)
            abandoned = daemon.supervisor.abandoned()
            if abandoned:
                log.error(
                    "eventdedup stopped; %s did not finish within the shutdown timeout, "
                    "exiting without it (its open transaction is rolled back)",
                    ", ".join(abandoned),
                    extra={"event": "daemon.stop", "abandoned": abandoned},
                )
            else:
                log.info("eventdedup stopped cleanly", extra={"event": "daemon.stop"})
        finally:
            daemon.db.dispose()
    if abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


async def migrate_only(settings: Settings) -> None:
    async with database_url(settings) as url:
        db = Database.from_url(url)
        try:
            revision = await db.run(upgrade_head, db.engine)
            print(f"database at revision {revision}")
        finally:
            db.dispose()


def expand_paths(paths: list[Path]) -> list[Path]:
    """The files to ingest: a folder's backlog as the watcher would list it, a file as named."""
    files: list[Path] = []
    for path in paths:
        files.extend(backlog_files(path) if path.is_dir() else [path])
    return files


async def ingest_paths(settings: Settings, paths: list[Path], keep: bool = True) -> int:
    """Process files once through the daemon's pipeline; returns the number that failed.

    Each file is copied into a staging folder and the copy goes to the archive
    (or dead letters) as in the daemon; the original stays where it is.
    ``keep=False`` removes it once its outcome is committed: the file has then
    *moved* to the archive or the dead letters, as a dropped file would.
    """
    from rich.progress import Progress

    folders = prepare_folders(settings)
    files = expand_paths(paths)
    async with database_url(settings) as url:
        db = Database.from_url(url)
        try:
            await db.run(upgrade_head, db.engine)
            processor = FileProcessor(
                engine=db.engine,
                archive_dir=folders["archive"],
                dead_letter_dir=folders["dead_letters"],
                max_file_bytes=settings.max_file_bytes,
                max_events=settings.max_events_per_file,
                # the same source as the daemon: operator overrides from config.set apply here too
                deduplicator=ConfiguredDeduplicator(
                    ConfigSource(
                        load_matching(settings),
                        origin=str(settings.matching_config_path or "packaged defaults"),
                    )
                ),
            )
            failed = 0
            with (
                tempfile.TemporaryDirectory(dir=folders["data"]) as staging,
                Progress(transient=False) as progress,
            ):
                task = progress.add_task("ingesting", total=len(files))
                # by name, in the order queued (outcomes come in that order)
                originals: dict[str, list[Path]] = {}

                def done(outcome: FileOutcome) -> None:
                    nonlocal failed
                    path = originals[outcome.filename].pop(0)
                    if not keep:
                        path.unlink(missing_ok=True)
                    if outcome.outcome == "failed":
                        failed += 1
                        progress.console.print(f"[red]failed[/] {path.name}: {outcome.reason}")
                    progress.update(task, advance=1, description=f"{outcome.outcome}: {path.name}")

                async def stage(n: int, path: Path) -> Path:
                    same_name = originals.setdefault(path.name, [])
                    # the same name from two folders: staged apart
                    folder = Path(staging) / str(n) if same_name else Path(staging)
                    folder.mkdir(exist_ok=True)
                    same_name.append(path)
                    copy = folder / path.name
                    # a symlink is staged as the link: the processor dead-letters it unread
                    await trio.to_thread.run_sync(
                        functools.partial(shutil.copyfile, path, copy, follow_symlinks=False)
                    )
                    return copy

                # The daemon's processor actor, fed a backlog: parse workers ahead, batches.
                # The queue is filled before it starts, so it sees the backlog at once.
                size = 2 * settings.batch_files
                send, receive = trio.open_memory_channel[Path](size)
                async with send, trio.open_nursery() as nursery:
                    for n, path in enumerate(files[:size]):
                        send.send_nowait(await stage(n, path))
                    await nursery.start(
                        functools.partial(
                            processor_actor,
                            receive,
                            db,
                            processor,
                            on_done=done,
                            parse_workers=settings.parse_workers,
                            batch_files=settings.batch_files,
                            score_ahead=settings.score_ahead,
                        )
                    )
                    for n, path in enumerate(files[size:], start=size):
                        await send.send(await stage(n, path))
                    await send.aclose()
            return failed
        finally:
            db.dispose()


async def export_to(settings: Settings, fmt: str, output: Path) -> int:
    """Write an export file atomically; returns how many clusters or events it holds."""
    from eventdedup.export import export_clusters, export_events
    from eventdedup.ingest.files import write_json_atomic

    async with database_url(settings) as url:
        db = Database.from_url(url)
        try:
            await db.run(upgrade_head, db.engine)

            def build() -> dict:
                with db.engine.connect() as conn:
                    return export_clusters(conn) if fmt == "clusters" else export_events(conn)

            document = await db.run(build)
        finally:
            db.dispose()
    await trio.to_thread.run_sync(write_json_atomic, output, document)
    return len(document["clusters" if fmt == "clusters" else "events"])


async def train_learned(settings: Settings) -> dict[str, Any]:
    """Retrain the learned resolver on every operator answer now (``eventdedup train resolver``)."""
    from eventdedup.admin.resolver import operator_examples, save_model
    from eventdedup.matching.learned import train

    async with database_url(settings) as url:
        db = Database.from_url(url)
        try:
            await db.run(upgrade_head, db.engine)

            def run() -> dict[str, Any]:
                with db.engine.begin() as conn:
                    model = train(operator_examples(conn))
                    save_model(conn, model)
                return {
                    "decisions": model.decisions,
                    "agreement": model.agreement,
                    "baseline": model.baseline,
                    # held-out answers it was that sure of (and got right), and whether
                    # that earns it the right to act (``LearnedModel.earned``)
                    "held_out_sure": model.vouched(settings.resolver_confidence),
                    "earned": model.earned(settings.resolver_confidence),
                }

            return await db.run(run)
        finally:
            db.dispose()
