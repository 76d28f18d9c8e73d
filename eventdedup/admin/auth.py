"""The admin token: where it comes from, how it is checked, how local clients find it.

One shared secret guards the websocket and the REST API (``/health`` and
``/metrics`` stay open for probes and scrapers).  Precedence:

1. ``EVENT_DEDUP_ADMIN_TOKEN``;
2. the content of ``EVENT_DEDUP_ADMIN_TOKEN_FILE`` (a compose/k8s secret);
3. a token generated on first start into ``<data dir>/admin_token`` (mode
   0600), so a bare ``eventdedup run`` is never an open admin surface.  Only
   its *path* is logged; the token itself never appears in a log line.

Comparison is constant-time (``hmac.compare_digest`` on bytes) so the time a
wrong guess takes says nothing about how much of it was right.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Literal

import attrs

from eventdedup.config import ConfigError, Settings

log = logging.getLogger(__name__)

TokenSource = Literal["env", "file", "generated", "data-dir"]


@attrs.frozen(repr=False)
class AdminToken:
    """The secret plus where it came from (``repr`` never shows the secret)."""

    value: str
    source: TokenSource
    path: Path | None = None

    def __repr__(self) -> str:
        return f"AdminToken(source={self.source!r}, path={self.path!r})"

    def matches(self, candidate: str | None) -> bool:
        """Constant-time comparison; ``None`` and non-strings never match."""
        if not isinstance(candidate, str):
            return False
        return hmac.compare_digest(
            candidate.encode("utf-8", "surrogatepass"), self.value.encode("utf-8", "surrogatepass")
        )

    def matches_header(self, header: str | None) -> bool:
        """``Authorization: Bearer <token>`` (scheme case-insensitive, per RFC 7235)."""
        return self.matches(bearer_token(header))


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _read_token_file(path: Path, what: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{what} ({path}): cannot read the admin token: {type(exc).__name__}"
        ) from None
    if not value:
        raise ConfigError(f"{what} ({path}): the file is empty")
    return value


def _generate(path: Path) -> str:
    """Write a fresh token exclusively: two replicas starting together agree on one.

    The token is written to a private temporary file first and then linked to
    its final name, which fails if the name exists: nobody ever reads a half-
    written token, and a concurrent start simply reads the winner's.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(token + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return token


def load_admin_token(settings: Settings) -> AdminToken:
    """The daemon's token (see the module docstring for the precedence)."""
    if settings.admin_token:
        log.info(
            "admin token taken from EVENT_DEDUP_ADMIN_TOKEN",
            extra={"event": "auth.token", "source": "env"},
        )
        return AdminToken(settings.admin_token.strip(), "env")
    if settings.admin_token_file is not None:
        value = _read_token_file(settings.admin_token_file, "EVENT_DEDUP_ADMIN_TOKEN_FILE")
        log.info(
            "admin token read from %s",
            settings.admin_token_file,
            extra={"event": "auth.token", "source": "file", "path": str(settings.admin_token_file)},
        )
        return AdminToken(value, "file", settings.admin_token_file)
    path = settings.token_path
    try:
        token = _generate(path)
    except FileExistsError:
        _tighten_mode(path)
        return AdminToken(_read_token_file(path, "admin token file"), "data-dir", path)
    log.warning(
        "generated a new admin token; it is stored in %s (mode 0600)",
        path,
        extra={"event": "auth.token", "source": "generated", "path": str(path)},
    )
    return AdminToken(token, "generated", path)


def _tighten_mode(path: Path) -> None:
    """A token file readable by others is fixed, loudly, rather than trusted silently."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
            log.warning(
                "admin token file %s was readable by others (mode %o); now 0600",
                path,
                mode,
                extra={"event": "auth.token_mode", "path": str(path)},
            )
    except OSError:
        pass


def client_token(settings: Settings) -> str | None:
    """The token a local client (``eventdedup feed``) should send, without generating one."""
    if settings.admin_token:
        return settings.admin_token.strip()
    for path in (settings.admin_token_file, settings.token_path):
        if path is None:
            continue
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            return value
    return None
