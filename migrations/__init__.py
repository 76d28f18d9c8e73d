"""Alembic migrations; run by the migrator actor or ``eventdedup migrate``."""
