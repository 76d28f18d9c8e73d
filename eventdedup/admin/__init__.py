"""The admin surface: authentication, JSON-RPC commands, review operations, metrics.

Transport-free on purpose: ``eventdedup.web`` carries it over the websocket
and REST; everything here is plain functions over a database connection or an
:class:`~eventdedup.admin.context.AdminContext`.
"""

from eventdedup.admin.auth import AdminToken, client_token, load_admin_token
from eventdedup.admin.config_source import ConfigSource, ConfiguredDeduplicator
from eventdedup.admin.context import AdminContext
from eventdedup.admin.metrics import Metrics

__all__ = [
    "AdminContext",
    "AdminToken",
    "ConfigSource",
    "ConfiguredDeduplicator",
    "Metrics",
    "client_token",
    "load_admin_token",
]
