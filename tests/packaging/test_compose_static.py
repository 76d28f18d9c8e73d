"""Static checks of the container packaging: compose.yaml, Containerfile, .containerignore.

No container runtime needed. ``podman-compose config`` only substitutes
variables and accepts typos, so these tests check what matters against the
daemon's own settings (``eventdedup.config``): every ``EVENT_DEDUP_*`` name is
one the daemon knows (it refuses to start on unknown ones), the values parse,
the published port, the bind-mount targets and the healthcheck URL agree with
the configured port and folders, ports bind 127.0.0.1 only, and the admin token
is never written into either file.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from eventdedup import config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
CONTAINERFILE = ROOT / "Containerfile"
CONTAINERIGNORE = ROOT / ".containerignore"
DOCKERIGNORE = ROOT / ".dockerignore"

APP = "eventdedup"
ENV_NAME = re.compile(r"\bEVENT_DEDUP_[A-Z0-9_]+\b")
#: The innermost ``${NAME}``/``${NAME:-default}`` (a default may hold another one).
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^{}]*))?\}")
REFERENCED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


# ------------------------------------------------------------------ helpers
def interpolate(value: Any, env: dict[str, str] | None = None) -> Any:
    """Compose variable substitution as an unconfigured machine sees it (defaults)."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        current = env.get(name)
        if op in (":-", "-"):
            return current if current else arg
        if op in (":?", "?"):
            if not current:
                raise AssertionError(f"${{{name}}} is required: {arg}")
            return current
        return current or ""

    text, previous = value.replace("$$", "\0"), None
    while text != previous:  # innermost first: ${A:-${B:-x}} -> ${A:-x} -> the value
        previous, text = text, INTERPOLATION.sub(sub, text)
    return text.replace("\0", "$")


def env_mapping(environment: Any) -> dict[str, str]:
    if environment is None:
        return {}
    if isinstance(environment, dict):
        return {str(k): "" if v is None else str(v) for k, v in environment.items()}
    result = {}
    for item in environment:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


def containerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in CONTAINERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "Containerfile ends with a line continuation"
    result = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for instruction, args in containerfile_instructions():
        if instruction == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction, args))
    return result


def parse_env_instruction(args: str) -> dict[str, str]:
    parts = shlex.split(args)
    if len(parts) >= 2 and "=" not in parts[0]:  # legacy `ENV KEY value`
        return {parts[0]: " ".join(parts[1:])}
    return dict(part.split("=", 1) for part in parts)


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return value


@pytest.fixture(scope="module")
def compose_raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """compose.yaml with every ${VAR:-default} resolved to its default."""
    return interpolate(compose_raw)


@pytest.fixture(scope="module")
def runtime_stage() -> list[tuple[str, str]]:
    return stages()[-1]


@pytest.fixture(scope="module")
def image_env(runtime_stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in runtime_stage:
        if instruction == "ENV":
            env.update(parse_env_instruction(args))
    return env


@pytest.fixture(scope="module")
def daemon_settings(compose: dict[str, Any], image_env: dict[str, str]) -> config.Settings:
    """The settings the daemon in the compose stack starts with (image ENV + compose env)."""
    env = {k: v for k, v in image_env.items() if k.startswith(config.PREFIX)}
    env.update(env_mapping(compose["services"][APP].get("environment")))
    return config.load_settings(env)


# -------------------------------------------------------------------- names
def test_every_event_dedup_variable_is_a_known_setting() -> None:
    known = config.env_var_names()
    assert "EVENT_DEDUP_HTTP_PORT" in known  # sanity: the function lists the real names
    for path in (COMPOSE, CONTAINERFILE):
        used = set(ENV_NAME.findall(path.read_text()))
        assert used, f"{path.name} sets no EVENT_DEDUP_* variable"
        unknown = sorted(used - known - config.COMPOSE_NAMES)
        assert not unknown, f"{path.name} uses settings the daemon does not know: {unknown}"


def test_compose_host_variables_are_spelt_like_the_daemon_s(compose_raw: dict) -> None:
    # one prefix for both; the host-side names are not daemon settings (the
    # daemon lets them through), and the old EVENTDEDUP_* spelling is still read
    referenced = set(REFERENCED.findall(COMPOSE.read_text()))
    host_side = {n for n in referenced if n.startswith(config.PREFIX)}
    assert host_side == set(config.COMPOSE_NAMES)
    assert not host_side & config.env_var_names()
    old = {n for n in referenced if n.startswith("EVENTDEDUP_")}
    assert old == {n.replace("EVENT_DEDUP_", "EVENTDEDUP_", 1) for n in host_side}
    # a daemon started from a shell that exports them for compose does not refuse to start
    config.load_settings({name: "x" for name in host_side})
    with pytest.raises(config.ConfigError, match="EVENT_DEDUP_INBOXX"):
        config.load_settings({"EVENT_DEDUP_INBOXX": "x"})


@pytest.mark.parametrize(
    ("env", "inbox", "port"),
    [
        ({}, "./inbox", "8080"),
        ({"EVENTDEDUP_INBOX": "/old", "EVENTDEDUP_PUBLISH_PORT": "9001"}, "/old", "9001"),
        ({"EVENT_DEDUP_INBOX": "/new", "EVENT_DEDUP_PUBLISH_PORT": "9002"}, "/new", "9002"),
        ({"EVENT_DEDUP_INBOX": "/new", "EVENTDEDUP_INBOX": "/old"}, "/new", "8080"),
    ],
)
def test_new_spelling_wins_and_the_old_one_is_still_read(
    compose_raw: dict[str, Any], env: dict[str, str], inbox: str, port: str
) -> None:
    app = interpolate(compose_raw, env)["services"][APP]
    sources = {str(v).split(":")[1]: str(v).split(":")[0] for v in app["volumes"]}
    assert sources["/data/inbox"] == inbox
    assert str(app["ports"][0]).split(":")[1] == port


def test_image_and_compose_settings_parse(daemon_settings: config.Settings) -> None:
    # load_settings raised on any unknown name or unparsable value already
    assert daemon_settings.watch_poll is True
    assert daemon_settings.log_json is True
    assert daemon_settings.http_host == "0.0.0.0"


def test_image_env_defaults(image_env: dict[str, str]) -> None:
    expected = {
        "EVENT_DEDUP_HTTP_HOST": "0.0.0.0",
        "EVENT_DEDUP_HTTP_PORT": "8080",
        "EVENT_DEDUP_EVENT_DATA_DIR": "/data/inbox",
        "EVENT_DEDUP_DEAD_LETTER_DIR": "/data/dead_letters",
        "EVENT_DEDUP_ARCHIVE_DIR": "/data/archive",
        "EVENT_DEDUP_DATA_DIR": "/data/state",
        "EVENT_DEDUP_LOG_JSON": "true",
    }
    assert {k: image_env.get(k) for k in expected} == expected
    assert image_env.get("PATH", "").startswith("/opt/venv/bin:")


# -------------------------------------------------------------------- ports
def test_published_port_is_the_daemon_port_on_localhost_only(
    compose: dict[str, Any], daemon_settings: config.Settings, runtime_stage: list
) -> None:
    ports = compose["services"][APP]["ports"]
    assert len(ports) == 1
    host_ip, host_port, container_port = str(ports[0]).split(":")
    assert host_ip == "127.0.0.1"
    assert host_port == "8080"  # the default of EVENTDEDUP_PUBLISH_PORT
    assert int(container_port) == daemon_settings.http_port
    exposed = [args for instruction, args in runtime_stage if instruction == "EXPOSE"]
    assert exposed == [str(daemon_settings.http_port)]


def test_no_service_publishes_beyond_localhost(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
            else:
                assert str(port).startswith("127.0.0.1:"), (name, port)
    assert "ports" not in compose["services"]["db"], "the database stays on the compose network"


def test_healthchecks_query_the_daemon_port(
    compose: dict[str, Any], daemon_settings: config.Settings, runtime_stage: list
) -> None:
    url = f"http://127.0.0.1:{daemon_settings.http_port}/health"
    checks = [args for instruction, args in runtime_stage if instruction == "HEALTHCHECK"]
    assert len(checks) == 1
    _options, _, command = checks[0].partition("CMD ")
    image_cmd = exec_form(command)
    assert image_cmd[0] == "python" and url in image_cmd[-1] and "urllib" in image_cmd[-1]
    compose_cmd = compose["services"][APP]["healthcheck"]["test"]
    assert compose_cmd[0] == "CMD"
    assert compose_cmd[1:] == image_cmd, "compose and image healthchecks should be the same"
    for instruction, args in containerfile_instructions():
        assert not re.search(r"\b(curl|wget)\b", args), f"{instruction} {args}"
    assert not re.search(r"\b(curl|wget)\b", " ".join(compose_cmd))


def test_tui_profile_targets_the_daemon_websocket(
    compose: dict[str, Any], daemon_settings: config.Settings
) -> None:
    tui = compose["services"].get("tui")
    if tui is None:
        pytest.skip("no tui service")
    assert tui["profiles"] == ["tui"]
    assert tui["command"][:1] == ["tui"]
    url = tui["command"][tui["command"].index("--url") + 1]
    assert url == f"ws://{APP}:{daemon_settings.http_port}/ws"
    if "--token-file" in tui["command"]:
        token_file = tui["command"][tui["command"].index("--token-file") + 1]
        secret = token_file.removeprefix("/run/secrets/")
        assert token_file.startswith("/run/secrets/") and secret in tui.get("secrets", [])
    assert tui.get("stdin_open") is True and tui.get("tty") is True
    assert "ports" not in tui


# -------------------------------------------------------------------- paths
def test_bind_mounts_are_the_configured_folders(
    compose: dict[str, Any], daemon_settings: config.Settings
) -> None:
    mounts = {}
    for volume in compose["services"][APP]["volumes"]:
        source, target, *_options = str(volume).split(":")
        mounts[target] = source
        assert source.startswith(("./", "/")), f"{volume}: expected a bind mount"
    assert mounts == {
        str(daemon_settings.event_data_dir): "./inbox",
        str(daemon_settings.dead_letter_dir): "./dead_letters",
        str(daemon_settings.archive_dir): "./archive",
    }


def test_database_url_matches_the_db_service(
    compose: dict[str, Any], daemon_settings: config.Settings
) -> None:
    db_env = env_mapping(compose["services"]["db"]["environment"])
    url = urlsplit(daemon_settings.database_url)
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "db" and url.port == 5432
    assert url.username == db_env["POSTGRES_USER"]
    assert url.password == db_env["POSTGRES_PASSWORD"]
    assert url.path == "/" + db_env["POSTGRES_DB"]


# -------------------------------------------------------------- admin token
def test_admin_token_is_never_written_down(
    compose_raw: dict[str, Any],
    compose: dict[str, Any],
    daemon_settings: config.Settings,
    image_env: dict[str, str],
) -> None:
    for name, service in compose_raw["services"].items():
        env = env_mapping(service.get("environment"))
        if "EVENT_DEDUP_ADMIN_TOKEN" in env:  # allowed only as a bare ${VAR} reference
            assert re.fullmatch(
                r"\$\{[A-Za-z_][A-Za-z0-9_]*(:\?[^}]*)?\}", env["EVENT_DEDUP_ADMIN_TOKEN"]
            ), name
    assert "EVENT_DEDUP_ADMIN_TOKEN" not in image_env
    assert "EVENT_DEDUP_ADMIN_TOKEN_FILE" not in image_env
    # the daemon gets it from a compose secret backed by a file
    assert daemon_settings.admin_token is None
    token_file = str(daemon_settings.admin_token_file)
    assert token_file.startswith("/run/secrets/")
    secret = token_file.removeprefix("/run/secrets/")
    app_secrets = [
        s if isinstance(s, str) else s["source"]
        for s in compose["services"][APP].get("secrets", [])
    ]
    assert secret in app_secrets
    assert "file" in compose["secrets"][secret]
    for instruction, args in containerfile_instructions():
        if instruction in {"ENV", "ARG", "LABEL"}:
            assert "TOKEN" not in args.upper(), f"{instruction} {args}"


# ------------------------------------------------------------ compose shape
def test_compose_service_shape(compose_raw: dict[str, Any], compose: dict[str, Any]) -> None:
    db, app = compose["services"]["db"], compose["services"][APP]
    assert compose_raw["services"]["db"]["image"] == (
        "${POSTGRES_IMAGE:-docker.io/library/postgres:16-alpine}"
    )
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    volume = str(db["volumes"][0]).split(":")
    assert volume[0] in compose["volumes"] and volume[1] == "/var/lib/postgresql/data"
    assert app["build"]["context"] == "." and app["build"]["dockerfile"] == "Containerfile"
    assert compose_raw["services"][APP]["build"]["args"]["PYTHON_IMAGE"] == (
        "${PYTHON_IMAGE:-docker.io/library/python:3.12-slim-bookworm}"
    )
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["restart"] == "unless-stopped"
    grace = re.fullmatch(r"(\d+)s", str(app["stop_grace_period"]))
    # longer than the processor's shutdown timeout, so a file in flight can finish
    assert grace and int(grace.group(1)) > 30


# ------------------------------------------------------------- Containerfile
def test_containerfile_is_multi_stage_uv_build(runtime_stage: list) -> None:
    instructions = containerfile_instructions()
    assert instructions[0] == ("ARG", "PYTHON_IMAGE=docker.io/library/python:3.12-slim-bookworm")
    froms = [args for instruction, args in instructions if instruction == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE} AS runtime"]
    build = stages()[0]
    runs = [(i, args) for i, (instruction, args) in enumerate(build) if instruction == "RUN"]
    deps = next(i for i, args in runs if "--no-install-project" in args)
    copy_all = build.index(("COPY", ". ."))
    project = next(i for i, args in runs if i > copy_all and "uv sync" in args)
    assert deps < copy_all < project
    assert "--frozen" in build[deps][1] and "--no-dev" in build[deps][1]
    assert "--frozen" in build[project][1] and "--no-dev" in build[project][1]
    assert "pip install" in " ".join(args for _, args in runs)
    # runtime: only the venv from the build stage, a non-root user, no shell entrypoint
    copies = [args for instruction, args in runtime_stage if instruction == "COPY"]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    users = [args for instruction, args in runtime_stage if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    entrypoint = [args for instruction, args in runtime_stage if instruction == "ENTRYPOINT"]
    cmd = [args for instruction, args in runtime_stage if instruction == "CMD"]
    assert [exec_form(a) for a in entrypoint] == [["eventdedup"]]
    assert [exec_form(a) for a in cmd] == [["run"]]


def test_build_context_holds_what_the_wheel_needs() -> None:
    patterns = [
        line.strip()
        for line in CONTAINERIGNORE.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: exclude everything, then re-include"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {"pyproject.toml", "uv.lock", pyproject["project"]["readme"]}
    needed |= set(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert needed <= included, f"missing from the build context: {sorted(needed - included)}"
    private = {
        ".git",
        ".venv",
        "tests",
        "inbox",
        "dead_letters",
        "archive",
        ".eventdedup",
        ".env",
        "secrets",
        "corpus",
    }
    assert not included & private
    assert DOCKERIGNORE.exists() and DOCKERIGNORE.read_text() == CONTAINERIGNORE.read_text()


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    # the schema check docker compose does (podman-compose does not); enabled
    # when the optional `compose-spec` package is installed in the dev venv
    compose_spec = pytest.importorskip(
        "compose_spec", reason="install the compose-spec package to validate compose.yaml"
    )
    compose_spec.PyCompose.from_json(json.dumps(compose)).validate()


# ------------------------------------------------------- console in a browser
CONSOLE = "console"


@pytest.fixture(scope="module")
def console_settings(compose: dict[str, Any], image_env: dict[str, str]) -> config.Settings:
    """The settings ``eventdedup web`` starts with in the console service."""
    env = {k: v for k, v in image_env.items() if k.startswith(config.PREFIX)}
    env.update(env_mapping(compose["services"][CONSOLE].get("environment")))
    return config.load_settings(env)


def test_console_service_serves_the_web_console_on_localhost_8090(
    compose: dict[str, Any], console_settings: config.Settings
) -> None:
    console = compose["services"][CONSOLE]
    assert "profiles" not in console, "`compose up` starts the console with the rest"
    assert console["command"][:1] == ["web"]
    ports = console["ports"]
    assert len(ports) == 1
    host_ip, host_port, container_port = str(ports[0]).split(":")
    assert host_ip == "127.0.0.1"
    assert host_port == "8090"  # the default of EVENTDEDUP_CONSOLE_PUBLISH_PORT
    assert int(container_port) == console_settings.web_port == config.Settings().web_port
    # inside the container it must listen beyond loopback or the published port is dead
    assert console_settings.web_host == "0.0.0.0"
    health = " ".join(console["healthcheck"]["test"])
    assert f"http://127.0.0.1:{console_settings.web_port}/login" in health


def test_console_service_talks_to_the_daemon_with_the_secret(
    compose: dict[str, Any], daemon_settings: config.Settings
) -> None:
    console = compose["services"][CONSOLE]
    command = console["command"]
    url = command[command.index("--url") + 1]
    assert url == f"ws://{APP}:{daemon_settings.http_port}/ws"
    token_file = command[command.index("--token-file") + 1]
    assert token_file == str(daemon_settings.admin_token_file)
    assert token_file.removeprefix("/run/secrets/") in console["secrets"]
    assert APP in console["depends_on"]
    assert console["user"] == compose["services"][APP]["user"]
