"""Alembic environment and versions: the only way Driftwise's schema changes."""
