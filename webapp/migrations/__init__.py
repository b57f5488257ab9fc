"""Alembic migrations: they own the schema (run with ``python -m webapp migrate``)."""
