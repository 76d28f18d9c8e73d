"""The ``eventdedup`` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from pathlib import Path

import click
import trio

from eventdedup.config import ConfigError, Settings, load_settings, settings_help
from eventdedup.logs import setup_logging

log = logging.getLogger("eventdedup")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None


@click.group()
@click.version_option(package_name="eventdedup")
def main() -> None:
    """Deduplicate regional event listings dropped as JSON files into a folder."""


@main.command(epilog="\b\nSettings (environment variables):\n" + settings_help())
def run() -> None:
    """Run the daemon: migrate, watch the inbox, process files, serve /health and /ws."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import prepare_interpreter, run_daemon
    from supervisor import SupervisorEscalation

    prepare_interpreter()
    try:
        trio.run(run_daemon, settings)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None
    except SupervisorEscalation as exc:
        cause = exc.__cause__
        log.critical("daemon stopped: %s%s", exc, f" (cause: {cause!r})" if cause else "")
        sys.exit(1)
    except KeyboardInterrupt:
        pass


@main.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import migrate_only

    trio.run(migrate_only, settings)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--keep", is_flag=True, help="Copy files instead of moving them to the archive.")
def ingest(paths: tuple[Path, ...], keep: bool) -> None:
    """Process files or folders once, with the daemon's code, then exit.

    Exit status 1 if any file failed.
    """
    settings = _settings()
    setup_logging(
        "WARNING" if settings.log_level == "INFO" else settings.log_level, settings.log_json
    )
    from eventdedup.runner import ingest_paths

    failed = trio.run(ingest_paths, settings, list(paths), keep)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["clusters", "events"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(fmt: str, output: Path) -> None:
    """Write clusters (for evaluation) or canonical events (in the input format)."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import export_to

    count = trio.run(export_to, settings, fmt, output)
    click.echo(f"wrote {count} {fmt} to {output}")


@main.command(name="eval")
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="JSON {event id: real-event key} (or JSON lines id/key).",
)
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--limit", default=10, show_default=True, help="Error examples to list.")
def evaluate(truth: Path, directory: Path, as_json: bool, limit: int) -> None:
    """Ingest DIRECTORY into a throw-away database and grade the clusters against TRUTH.

    The database is a fresh one on EVENT_DEDUP_DATABASE_URL's server when set
    (created and dropped), otherwise a temporary embedded PostgreSQL.
    """
    settings = _settings()
    setup_logging("WARNING", settings.log_json)
    from eventdedup.daemon import load_matching
    from eventdedup.evaluate import evaluate_folder, format_report, load_truth

    report = evaluate_folder(
        directory, load_truth(truth), load_matching(settings), settings.database_url, limit=limit
    )
    click.echo(
        json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report)
    )


@main.command()
@click.option("--url", default=None, help="Websocket URL [default: ws://HTTP_HOST:HTTP_PORT/ws]")
@click.option(
    "--after", type=int, default=None, help="Replay messages after this sequence number first."
)
@click.option("--type", "types", multiple=True, help="Only these message types (repeatable).")
@click.option("--token", envvar="EVENT_DEDUP_ADMIN_TOKEN", default=None, hidden=True)
def feed(url: str | None, after: int | None, types: tuple[str, ...], token: str | None) -> None:
    """Print the live feed as JSON lines (reconnects and resumes by itself)."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.admin.auth import client_token
    from eventdedup.client import FeedClient

    url = url or f"ws://{settings.http_host}:{settings.http_port}/ws"
    token = token or client_token(settings)  # e.g. the one the daemon generated in the data dir

    async def follow() -> None:
        client = FeedClient(url, token=token, after=after, types=types)
        async for message in client.messages():
            click.echo(json.dumps(message, ensure_ascii=False))
            sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        trio.run(follow)


def _tui_token(settings: Settings, token_file: Path | None) -> str | None:
    """--token-file, else EVENT_DEDUP_ADMIN_TOKEN, else ADMIN_TOKEN_FILE, else the data dir's."""
    if not token_file and settings.admin_token:
        return settings.admin_token.strip()
    candidates = [token_file] if token_file else [settings.admin_token_file, settings.token_path]
    for path in candidates:
        if path is None:
            continue
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            if token_file:
                raise click.UsageError(f"cannot read --token-file {path}: {exc}") from None
    return None


@main.command()
@click.option("--url", default=None, help="Websocket URL [default: ws://HTTP_HOST:HTTP_PORT/ws]")
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the admin token [default: EVENT_DEDUP_ADMIN_TOKEN, else "
    "<data dir>/admin_token].",
)
def tui(url: str | None, token_file: Path | None) -> None:
    """Open the admin console (Textual) on a running daemon's websocket."""
    settings = _settings()
    # Log lines on stderr would scribble over the screen; the console shows errors itself.
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    from tui.app import ConsoleApp
    from tui.backend import ThreadedBackend

    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.http_host, settings.http_host)
    url = url or f"ws://{host}:{settings.http_port}/ws"
    ConsoleApp(ThreadedBackend(url, _tui_token(settings, token_file))).run()


@main.command()
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model [default: the shipped eventdedup/matching/pair_model.json].",
)
@click.option(
    "--check", is_flag=True, help="Only compare with the shipped model; exit 1 if not equal."
)
def train(output: Path | None, check: bool) -> None:
    """Fit the pair model on synthetic corpora (needs the 'train' extra: scikit-learn)."""
    try:
        from eventdedup.train import SHIPPED, render
        from eventdedup.train import train as fit
    except ImportError as exc:
        raise click.ClickException(
            f"{exc}; install the 'train' extra (uv sync --extra train)"
        ) from None
    text = render(fit())
    if check:
        same = SHIPPED.read_text(encoding="utf-8") == text
        click.echo(f"{SHIPPED}: {'reproduced' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    target = output or SHIPPED
    target.write_text(text, encoding="utf-8")
    click.echo(f"wrote {target}")
