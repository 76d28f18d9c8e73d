"""Settings: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from eventdedup.cli import main
from eventdedup.config import ConfigError, env_var_names, load_settings


def test_defaults_need_no_environment() -> None:
    s = load_settings(environ={})
    assert s.database_url is None
    assert s.event_data_dir == Path("inbox")
    assert s.dead_letter_dir == Path("dead_letters")
    assert s.archive_dir == Path("archive")
    assert s.data_dir == Path(".eventdedup")
    assert (s.http_host, s.http_port) == ("127.0.0.1", 8080)
    assert s.watch_poll is False
    assert s.settle_seconds == 1.0
    assert s.embedded_shared_buffers == "1GB"


def test_values_are_parsed_from_the_environment() -> None:
    s = load_settings(
        environ={
            "EVENT_DEDUP_DATABASE_URL": "postgres://u:p@db:5432/x",
            "EVENT_DEDUP_HTTP_PORT": "9000",
            "EVENT_DEDUP_WATCH_POLL": "true",
            "EVENT_DEDUP_SETTLE_SECONDS": "2.5",
            "EVENT_DEDUP_LOG_LEVEL": "debug",
            "EVENT_DEDUP_EVENT_DATA_DIR": "/data/in",
            "EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS": " 256MB",
        }
    )
    assert s.database_url == "postgresql+psycopg://u:p@db:5432/x"
    assert s.http_port == 9000
    assert s.watch_poll is True
    assert s.settle_seconds == 2.5
    assert s.log_level == "DEBUG"
    assert s.event_data_dir == Path("/data/in")
    assert s.embedded_shared_buffers == "256MB"


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("EVENT_DEDUP_HTTP_PORT", "eighty", "EVENT_DEDUP_HTTP_PORT"),
        ("EVENT_DEDUP_HTTP_PORT", "70000", "TCP port"),
        ("EVENT_DEDUP_WATCH_POLL", "maybe", "EVENT_DEDUP_WATCH_POLL"),
        ("EVENT_DEDUP_SETTLE_SECONDS", "-1", "EVENT_DEDUP_SETTLE_SECONDS"),
        ("EVENT_DEDUP_LOG_LEVEL", "LOUD", "EVENT_DEDUP_LOG_LEVEL"),
        ("EVENT_DEDUP_DATABASE_URL", "mysql://x", "EVENT_DEDUP_DATABASE_URL"),
        ("EVENT_DEDUP_SETTLE_SECOND", "1", "unknown setting"),
        ("EVENT_DEDUP_RESOLVERS", "learned,oracle", "unknown resolver 'oracle'"),
        ("EVENT_DEDUP_RESOLVER_CONFIDENCE", "0.3", "between 0.5 and 1"),
        ("EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS", "1gb", "such as 512MB or 1GB"),
        ("EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS", "512", "such as 512MB or 1GB"),
        ("EVENT_DEDUP_EMBEDDED_SHARED_BUFFERS", "64kB", "at least 128kB"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(environ={name: value})
    assert needle in str(info.value)
    assert str(info.value).startswith(name)


def test_run_help_documents_every_variable() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for name in env_var_names():
        assert name in result.output


def test_invalid_configuration_stops_the_cli_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EVENT_DEDUP_HTTP_PORT", "nope")
    result = CliRunner().invoke(main, ["run"])
    assert result.exit_code == 2
    assert "EVENT_DEDUP_HTTP_PORT" in result.output
