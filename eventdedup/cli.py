"""The ``eventdedup`` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import trio

from eventdedup.config import ConfigError, Settings, load_settings, settings_help
from eventdedup.logs import setup_logging

log = logging.getLogger("eventdedup")
T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None


@click.group()
@click.version_option(package_name="eventdedup")
def main() -> None:
    """Deduplicate regional event listings dropped as JSON files into a folder."""


@main.command(epilog="\b\nSettings (environment variables):\n" + settings_help())
@click.option("--host", default=None, help="Address to bind [default: EVENT_DEDUP_HTTP_HOST].")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of /health, /ws and the API [default: EVENT_DEDUP_HTTP_PORT].",
)
def run(host: str | None, port: int | None) -> None:
    """Run the daemon: migrate, watch the inbox, process files, serve /health and /ws."""
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["http_host"] = host
    if port is not None:
        overrides["http_port"] = port
    settings = _settings(**overrides)
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.db.embedded import EmbeddedStartError
    from eventdedup.interpreter import prepare_interpreter
    from eventdedup.runner import run_daemon
    from supervisor import SupervisorEscalation

    prepare_interpreter()
    try:
        trio.run(run_daemon, settings)
    except ConfigError as exc:
        raise click.UsageError(f"invalid configuration: {exc}") from None
    except EmbeddedStartError as exc:
        click.echo(f"eventdedup run: {exc}", err=True)
        sys.exit(1)
    except SupervisorEscalation as exc:
        cause = exc.__cause__
        log.critical("daemon stopped: %s%s", exc, f" (cause: {cause!r})" if cause else "")
        sys.exit(1)
    except KeyboardInterrupt:
        pass


def _with_database(command: str, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """``trio.run(fn, *args)``; a database that cannot be reached is one line and exit 1."""
    from sqlalchemy.exc import DBAPIError

    from eventdedup.db.embedded import EmbeddedStartError
    from eventdedup.db.engine import error_line

    try:
        return trio.run(fn, *args)
    except DBAPIError as exc:
        click.echo(f"eventdedup {command}: cannot use the database: {error_line(exc)}", err=True)
    except EmbeddedStartError as exc:
        click.echo(f"eventdedup {command}: {exc}", err=True)
    sys.exit(1)


@main.command()
def migrate() -> None:
    """Apply database migrations and exit."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import migrate_only

    _with_database("migrate", migrate_only, settings)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--keep/--move",
    default=True,
    show_default=True,
    help="--keep: leave the originals where they are (copies go to the archive or the dead "
    "letters); --move: move them there, as a file dropped into the inbox would be.",
)
def ingest(paths: tuple[Path, ...], keep: bool) -> None:
    """Process files or folders once, with the daemon's code, then exit.

    Exit status 1 if any file failed or the database cannot be reached.
    """
    settings = _settings()
    setup_logging(
        "WARNING" if settings.log_level == "INFO" else settings.log_level, settings.log_json
    )
    from eventdedup.interpreter import prepare_interpreter
    from eventdedup.runner import ingest_paths

    prepare_interpreter()  # as `run` does: the same pipeline, the same collector settings
    failed = _with_database("ingest", ingest_paths, settings, list(paths), keep)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["clusters", "events"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def export(fmt: str, output: Path) -> None:
    """Write clusters (for evaluation) or canonical events (in the input format)."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import export_to

    count = _with_database("export", export_to, settings, fmt, output)
    click.echo(f"wrote {count} {fmt} to {output}")


@main.group()
def train() -> None:
    """Retrain a model: the pair model, the review queue's calibration or the learned resolver."""


@train.command(name="model")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the model [default: the shipped eventdedup/matching/pair_model.json].",
)
@click.option(
    "--check", is_flag=True, help="Only compare with the shipped model; exit 1 if not equal."
)
def train_model(output: Path | None, check: bool) -> None:
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


@train.command(name="review")
@click.option(
    "--check",
    is_flag=True,
    help="Only compare with the shipped calibration; exit 1 if not equal.",
)
def train_review(check: bool) -> None:
    """Fit the review queue's calibration on synthetic corpora (rerun after `train model`)."""
    from eventdedup.train_review import SHIPPED, render
    from eventdedup.train_review import train as fit

    text = render(fit())
    if check:
        same = SHIPPED.read_text(encoding="utf-8") == text
        click.echo(f"{SHIPPED}: {'reproduced' if same else 'DIFFERS'}")
        sys.exit(0 if same else 1)
    SHIPPED.write_text(text, encoding="utf-8")
    click.echo(f"wrote {SHIPPED}")


@train.command(name="resolver")
def train_resolver() -> None:
    """Retrain the learned resolver on all operator review answers, then exit."""
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.runner import train_learned

    click.echo(json.dumps(trio.run(train_learned, settings)))


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


#: how the admin commands find the daemon and its token (see _admin_url, _tui_token)
_url_option = click.option(
    "--url", default=None, help="Websocket URL [default: ws://HTTP_HOST:HTTP_PORT/ws]"
)
_token_file_option = click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File holding the admin token [default: EVENT_DEDUP_ADMIN_TOKEN, else "
    "EVENT_DEDUP_ADMIN_TOKEN_FILE, else <data dir>/admin_token].",
)


@main.command()
@_url_option
@click.option(
    "--after", type=int, default=None, help="Replay messages after this sequence number first."
)
@click.option("--type", "types", multiple=True, help="Only these message types (repeatable).")
@click.option("--token", envvar="EVENT_DEDUP_ADMIN_TOKEN", default=None, hidden=True)
@_token_file_option
def feed(
    url: str | None,
    after: int | None,
    types: tuple[str, ...],
    token: str | None,
    token_file: Path | None,
) -> None:
    """Print the live feed as JSON lines (reconnects and resumes by itself).

    Exit status 3 when the daemon rejects the token.
    """
    settings = _settings()
    setup_logging(settings.log_level, settings.log_json)
    from eventdedup.client import FeedClient, Unauthorized

    url = _admin_url(settings, url)
    token = _tui_token(settings, token_file) if token_file or not token else token

    async def follow() -> None:
        client = FeedClient(url, token=token, after=after, types=types)
        async for message in client.messages():
            click.echo(json.dumps(message, ensure_ascii=False))
            sys.stdout.flush()

    try:
        trio.run(follow)
    except Unauthorized as exc:
        click.echo(f"eventdedup feed: {exc}", err=True)
        sys.exit(3)
    except KeyboardInterrupt:
        pass


def _admin_url(settings: Settings, url: str | None) -> str:
    """--url, else the daemon's websocket from its settings (a wildcard bind → loopback)."""
    if url:
        return url
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(settings.http_host, settings.http_host)
    return f"ws://{host}:{settings.http_port}/ws"


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
@_url_option
@_token_file_option
def tui(url: str | None, token_file: Path | None) -> None:
    """Open the admin console (Textual) on a running daemon's websocket.

    The theme picked in the console (ctrl+p, "Change theme") is kept in
    $XDG_CONFIG_HOME/eventdedup/console.toml (~/.config/eventdedup/ when unset).
    """
    settings = _settings()
    # Log lines on stderr would scribble over the screen; the console shows errors itself.
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    from tui import preferences
    from tui.app import ConsoleApp
    from tui.backend import ThreadedBackend

    url = _admin_url(settings, url)
    ConsoleApp(
        ThreadedBackend(url, _tui_token(settings, token_file)),
        preferences=preferences.default_path(),
    ).run()


def _admin_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--url and --token-file, as ``tui`` takes them."""
    command = _token_file_option(command)
    command = _url_option(command)
    command = click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        help="Seconds to wait for the answer.",
    )(command)
    return command


def _ask(
    url: str | None, token_file: Path | None, timeout: float, method: str, params: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """One JSON-RPC call; exit 3 with one line when the daemon cannot be asked."""
    from eventdedup.shell import EXIT_UNREACHABLE, ShellError, call_once

    settings = _settings()
    logging.basicConfig(handlers=[logging.NullHandler()], force=True)
    url = _admin_url(settings, url)
    token = _tui_token(settings, token_file)
    try:
        return url, trio.run(lambda: call_once(url, token, method, params, time_limit=timeout))
    except ShellError as exc:
        click.echo(f"eventdedup: {exc}", err=True)
        sys.exit(EXIT_UNREACHABLE)


@main.command()
@_admin_options
@click.argument("method")
@click.argument("params", nargs=-1)
def rpc(
    method: str, params: tuple[str, ...], url: str | None, token_file: Path | None, timeout: float
) -> None:
    """Call one admin METHOD on a running daemon and print its JSON result.

    PARAMS are key=value; a value is parsed as JSON where it parses
    (page=2, operator='"ops"', matching='{"auto_merge": 0.9}'), else taken as
    a string. Methods: docs/admin.md.

    \b
    Exit status: 0 result printed; 1 the daemon answered with an error
    (printed on stderr); 3 the daemon could not be asked (unreachable,
    token rejected, no answer in time).
    """
    from eventdedup.shell import EXIT_ERROR, format_error, parse_assignments

    try:
        values = parse_assignments(params)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _url, response = _ask(url, token_file, timeout, method, values)
    if "error" in response:
        click.echo(f"eventdedup rpc {method}: {format_error(response['error'])}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(json.dumps(response.get("result"), ensure_ascii=False, indent=2))


@main.command()
@_admin_options
@click.option("--json", "as_json", is_flag=True, help="Print the status result as JSON.")
def status(url: str | None, token_file: Path | None, timeout: float, as_json: bool) -> None:
    """Summarize a running daemon: actors, queue, files today, review load.

    \b
    Exit status: 0 all actors healthy; 1 degraded (an actor not running,
    the feed not listening); 3 the daemon could not be asked.
    """
    from eventdedup.shell import EXIT_ERROR, degraded, format_error, format_status

    url, response = _ask(url, token_file, timeout, "status", {})
    if "error" in response:
        click.echo(f"eventdedup status: {format_error(response['error'])}", err=True)
        sys.exit(EXIT_ERROR)
    result = response.get("result") or {}
    click.echo(
        json.dumps(result, ensure_ascii=False, indent=2) if as_json else format_status(result, url)
    )
    sys.exit(EXIT_ERROR if degraded(result) else 0)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file (JSON lines).")
def validate(files: tuple[Path, ...], as_json: bool) -> None:
    """Check FILES with the daemon's loader, without a database.

    Prints what the daemon would do with each file: the reason its dead
    letter would carry, or each event that would be quarantined. Limits
    come from EVENT_DEDUP_MAX_FILE_BYTES and EVENT_DEDUP_MAX_EVENTS_PER_FILE.
    An id already stored with other content is not checked (that needs the
    database).

    \b
    Exit status: 0 every file would be accepted with all its events; 1 otherwise.
    """
    settings = _settings()
    from eventdedup.validation import format_verdict, validate_file

    all_ok = True
    for path in files:
        verdict = validate_file(path, settings.max_file_bytes, settings.max_events_per_file)
        all_ok = all_ok and verdict.ok
        click.echo(
            json.dumps(verdict.to_json(), ensure_ascii=False)
            if as_json
            else format_verdict(verdict)
        )
    sys.exit(0 if all_ok else 1)


@main.command(name="web")
@_url_option
@_token_file_option
@click.option("--host", default=None, help="Bind address [default: EVENT_DEDUP_WEB_HOST].")
@click.option("--port", type=int, default=None, help="Port [default: EVENT_DEDUP_WEB_PORT].")
def web_console(
    url: str | None, token_file: Path | None, host: str | None, port: int | None
) -> None:
    """Serve the admin console to browsers (one console per session, admin token required)."""
    overrides = {k: v for k, v in {"web_host": host, "web_port": port}.items() if v is not None}
    settings = _settings(**overrides)
    setup_logging(settings.log_level, settings.log_json)
    token = _tui_token(settings, token_file)
    if not token:
        raise click.UsageError(
            "no admin token: set EVENT_DEDUP_ADMIN_TOKEN or --token-file, or start the daemon "
            "once so it generates <data dir>/admin_token"
        )
    from eventdedup.admin.auth import AdminToken
    from tui.web import ConsoleServer, console_command

    url = _admin_url(settings, url)
    command = console_command(url, token_file)
    try:
        check = AdminToken(token, "file" if token_file else "env", token_file)
        ConsoleServer(command, check, host=settings.web_host, port=settings.web_port).serve()
    except OSError as exc:  # the port is taken, or the address is not this host's
        raise click.ClickException(
            f"cannot serve on {settings.web_host}:{settings.web_port}: {exc.strerror or exc}"
        ) from None
