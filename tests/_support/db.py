"""One-off SQL queries against a test database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def scalar(engine: sa.Engine, query: str, **params: Any) -> Any:
    """The single value ``query`` returns (it must return exactly one row)."""
    with engine.connect() as conn:
        return conn.execute(sa.text(query), params).scalar_one()


def rows(engine: sa.Engine, query: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query), params))
