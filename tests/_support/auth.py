"""The admin token of a daemon under test."""

from __future__ import annotations

from eventdedup.admin.auth import client_token
from eventdedup.config import Settings

#: The token the tests configure where they choose one (``EVENT_DEDUP_ADMIN_TOKEN``).
TOKEN = "test-token"


def admin_token(settings: Settings) -> str:
    """The token the daemon under test accepts (configured, or generated into its data dir)."""
    token = client_token(settings)
    assert token, f"no admin token configured or generated in {settings.data_dir}"
    return token


def http_auth(token: str = TOKEN) -> dict[str, str]:
    """HTTP headers that present ``token``."""
    return {"Authorization": f"Bearer {token}"}


def ws_auth(token: str = TOKEN) -> list[tuple[bytes, bytes]]:
    """Websocket handshake headers (``extra_headers``) that present ``token``."""
    return [(b"authorization", f"Bearer {token}".encode())]
