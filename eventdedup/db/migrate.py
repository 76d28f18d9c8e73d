"""Run the Alembic migrations programmatically (migrator actor, ``eventdedup migrate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def migrate(engine: Engine, direction: Literal["upgrade", "downgrade"], revision: str) -> None:
    """``alembic upgrade|downgrade <revision>`` on ``engine``'s database (``env.py`` commits)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        cfg.attributes["connection"] = connection
        (command.upgrade if direction == "upgrade" else command.downgrade)(cfg, revision)


def upgrade_head(engine: Engine) -> str:
    """Upgrade to the newest revision and return it; safe to call on every start."""
    migrate(engine, "upgrade", "head")
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None
    return head
