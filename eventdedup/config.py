"""Daemon settings, read once at start from ``EVENT_DEDUP_*`` environment variables.

Every setting has a default in code, so a bare ``eventdedup run`` works on a
fresh machine.  A wrong value stops the daemon before anything starts, with a
message that names the variable: a typo must never turn into a daemon that runs
with a silently different configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

PREFIX = "EVENT_DEDUP_"


#: Host-side variables of compose.yaml (bind-mount sources, published ports, image tag,
#: container uid/gid): compose reads them, the daemon does not, but they share its
#: prefix, so a shell that exports them can still run ``eventdedup feed``/``status``.
COMPOSE_NAMES = frozenset(
    PREFIX + name
    for name in (
        "IMAGE",
        "INBOX",
        "DEAD_LETTERS",
        "ARCHIVE",
        "TOKEN_SECRET",
        "PUBLISH_PORT",
        "REPLICA_PUBLISH_PORT",
        "CONSOLE_PUBLISH_PORT",
        "UID",
        "GID",
    )
)


class ConfigError(ValueError):
    """A setting has an invalid value; the message names the variable."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"must be greater than 0, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port 0-65535, got {text!r}")
    return value


def _log_level(text: str) -> str:
    value = text.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {text!r}")
    return value


def _database_url(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    return normalize_database_url(value)


def _optional_path(text: str) -> Path | None:
    return Path(text) if text.strip() else None


def _optional_str(text: str) -> str | None:
    return text if text.strip() else None


RESOLVER_NAMES = ("learned", "llm")


def _resolvers(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in RESOLVER_NAMES]
    if unknown:
        raise ValueError(f"unknown resolver {unknown[0]!r} (known: {', '.join(RESOLVER_NAMES)})")
    return names


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= 1.0:
        raise ValueError("must be between 0.5 and 1")
    return value


_PG_UNITS = {"kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _pg_memory(text: str) -> str:
    """A PostgreSQL memory size with its unit (``512MB``, ``1GB``), at least 128kB."""
    value = text.strip()
    number = value.rstrip("kMGTB")
    unit = value[len(number) :]
    if not number.isdigit() or unit not in _PG_UNITS:
        raise ValueError(f"expected a size such as 512MB or 1GB (kB, MB, GB, TB), got {text!r}")
    if int(number) * _PG_UNITS[unit] < 128 * 1024:
        raise ValueError(f"must be at least 128kB, got {text!r}")
    return value


def normalize_database_url(url: str) -> str:
    """Accept the spellings people paste and always drive psycopg 3.

    ``postgres://`` (Heroku style), ``postgresql://`` and the asyncpg URL of
    the predecessor all name the same server; the daemon only speaks psycopg.
    """
    for scheme in (
        "postgresql+psycopg://",
        "postgresql+asyncpg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme) :]
    raise ValueError(f"must be a PostgreSQL URL (postgresql://user:pass@host:port/db), got {url!r}")


def _setting(env: str, parse: Callable[[str], Any], help: str, default: Any) -> Any:
    metadata = {"env": PREFIX + env, "parse": parse, "help": help}
    return attrs.field(default=default, metadata=metadata)


@attrs.frozen
class Settings:
    """Everything the daemon reads from its environment."""

    database_url: str | None = _setting(
        "DATABASE_URL",
        _database_url,
        "PostgreSQL URL used by the daemon and by migrations alike; unset = start an embedded "
        "PostgreSQL in the data dir.",
        None,
    )
    event_data_dir: Path = _setting(
        "EVENT_DATA_DIR", Path, "Watched inbox folder where JSON files are dropped.", Path("inbox")
    )
    dead_letter_dir: Path = _setting(
        "DEAD_LETTER_DIR",
        Path,
        "Where rejected files go, each with a <name>.error.json sidecar.",
        Path("dead_letters"),
    )
    archive_dir: Path = _setting(
        "ARCHIVE_DIR",
        Path,
        "Where processed files are moved so the inbox shows only what is pending.",
        Path("archive"),
    )
    data_dir: Path = _setting(
        "DATA_DIR",
        Path,
        "Embedded database and generated state (admin token).",
        Path(".eventdedup"),
    )
    embedded_shared_buffers: str = _setting(
        "EMBEDDED_SHARED_BUFFERS",
        _pg_memory,
        "Buffer cache of the embedded PostgreSQL (its shared_buffers), used only as far as the "
        "database fills it; unused with DATABASE_URL.",
        "1GB",
    )
    matching_config_path: Path | None = _setting(
        "MATCHING_CONFIG_PATH",
        _optional_path,
        "YAML overriding the packaged matching parameters.",
        None,
    )
    log_json: bool = _setting("LOG_JSON", _bool, "Log JSON lines instead of text.", False)
    log_level: str = _setting(
        "LOG_LEVEL", _log_level, "DEBUG, INFO, WARNING, ERROR or CRITICAL.", "INFO"
    )
    http_host: str = _setting("HTTP_HOST", str, "Address the HTTP server binds.", "127.0.0.1")
    http_port: int = _setting("HTTP_PORT", _port, "Port of /health, /ws and the API.", 8080)
    watch_poll: bool = _setting(
        "WATCH_POLL",
        _bool,
        "Poll the inbox instead of inotify (bind mounts, network shares).",
        False,
    )
    settle_seconds: float = _setting(
        "SETTLE_SECONDS",
        _non_negative_float,
        "A file is read only after its size and mtime were stable this long (renamed-in files "
        "are taken at once).",
        1.0,
    )
    rescan_seconds: float = _setting(
        "RESCAN_SECONDS",
        _positive_float,
        "Full inbox rescan interval; catches anything a file-system event missed.",
        30.0,
    )
    max_file_bytes: int = _setting(
        "MAX_FILE_BYTES",
        _positive_int,
        "Larger files are dead-lettered without being read.",
        50 * 1024 * 1024,
    )
    max_events_per_file: int = _setting(
        "MAX_EVENTS_PER_FILE", _positive_int, "Files with more events are dead-lettered.", 10_000
    )
    parse_workers: int = _setting(
        "PARSE_WORKERS",
        _non_negative_int,
        "Processes that read, validate and prepare the next file while the current one is in "
        "the database (0 = in the processor's own thread).",
        1,
    )
    db_threads: int = _setting(
        "DB_THREADS", _positive_int, "Worker threads for database work (capacity limiter).", 4
    )
    migrate_attempts: int = _setting(
        "MIGRATE_ATTEMPTS",
        _positive_int,
        "Connection attempts of the migrator before the daemon gives up (backoff between).",
        8,
    )
    admin_token: str | None = _setting(
        "ADMIN_TOKEN",
        _optional_str,
        "Admin token for the websocket and the API; unset = generated once into the data dir.",
        None,
    )
    admin_token_file: Path | None = _setting(
        "ADMIN_TOKEN_FILE",
        _optional_path,
        "File holding the admin token (e.g. a compose secret); used when ADMIN_TOKEN is unset.",
        None,
    )
    web_host: str = _setting(
        "WEB_HOST", str, "Address `eventdedup web` (the console in a browser) binds.", "127.0.0.1"
    )
    web_port: int = _setting("WEB_PORT", _port, "Port of `eventdedup web`.", 8090)
    # --- resolver tier (docs/admin.md, "Resolvers") ---
    resolvers: tuple[str, ...] = _setting(
        "RESOLVERS",
        _resolvers,
        "Resolvers asked about open review items, in order (learned, llm; empty = none).",
        ("learned",),
    )
    resolver_confidence: float = _setting(
        "RESOLVER_CONFIDENCE",
        _fraction,
        "Confidence (0.5-1) a resolver's answer needs to be applied; below, humans decide.",
        0.9,
    )
    resolver_retrain_every: int = _setting(
        "RESOLVER_RETRAIN_EVERY",
        _positive_int,
        "The learned resolver retrains after this many new operator decisions.",
        20,
    )
    resolver_poll: float = _setting(
        "RESOLVER_POLL",
        _positive_float,
        "Seconds the resolver waits when no open item is left to look at.",
        5.0,
    )
    resolver_url: str | None = _setting(
        "RESOLVER_URL",
        _optional_str,
        "OpenAI-compatible chat-completions URL of the llm resolver "
        "(e.g. http://127.0.0.1:8080/v1/chat/completions).",
        None,
    )
    resolver_model: str = _setting(
        "RESOLVER_MODEL", str, "Model name sent to the llm resolver's endpoint.", "gpt-4o-mini"
    )
    resolver_api_key_file: Path | None = _setting(
        "RESOLVER_API_KEY_FILE",
        _optional_path,
        "File holding the llm endpoint's API key (sent as a bearer token); unset = none.",
        None,
    )
    resolver_concurrency: int = _setting(
        "RESOLVER_CONCURRENCY", _positive_int, "Concurrent requests to the llm endpoint.", 5
    )
    resolver_timeout: float = _setting(
        "RESOLVER_TIMEOUT", _positive_float, "Seconds one llm request may take.", 30.0
    )
    resolver_daily_budget: int = _setting(
        "RESOLVER_DAILY_BUDGET",
        _non_negative_int,
        "Requests to the llm endpoint per UTC day (cache hits are free).",
        1000,
    )
    batch_files: int = _setting(
        "BATCH_FILES",
        _positive_int,
        "When files wait, the processor parses up to this many ahead and commits those "
        "parsed meanwhile in one transaction, matched together (1 = always file by file); "
        "also `eventdedup ingest`.",
        10,
    )
    score_ahead: bool = _setting(
        "SCORE_AHEAD",
        _bool,
        "With a backlog, the parse worker also scores each file's candidate pairs with the "
        "files it parsed before, while the commit stage is busy; pays only where a core is "
        "otherwise idle (docs/performance.md).",
        False,
    )

    @property
    def pgdata_dir(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "admin_token"


def settings_fields() -> list[attrs.Attribute]:
    return list(attrs.fields(Settings))


def env_var_names() -> set[str]:
    """All variable names the daemon understands (used by the packaging checks)."""
    return {f.metadata["env"] for f in settings_fields()}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment; ``overrides`` (already typed) win.

    Unknown ``EVENT_DEDUP_*`` names are rejected too: a misspelt variable is a
    setting the operator believes is active.  compose.yaml's host-side names
    (:data:`COMPOSE_NAMES`) are let through and ignored.
    """
    env = os.environ if environ is None else environ
    known = env_var_names() | {PREFIX + "TEST_DATABASE_URL"} | COMPOSE_NAMES
    unknown = sorted(k for k in env if k.startswith(PREFIX) and k not in known)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown setting (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = {}
    for field in settings_fields():
        name = field.metadata["env"]
        if field.name in overrides:
            values[field.name] = overrides[field.name]
        elif name in env:
            try:
                values[field.name] = field.metadata["parse"](env[name])
            except ValueError as exc:
                raise ConfigError(f"{name}: {exc}") from None
    return Settings(**values)


def settings_help() -> str:
    """The table of settings shown by ``eventdedup run --help``."""
    lines = []
    for field in settings_fields():
        default = field.default
        shown = "(unset)" if default is None else str(default)
        lines.append(f"{field.metadata['env']} [default: {shown}]\n    {field.metadata['help']}")
    return "\n".join(lines)
