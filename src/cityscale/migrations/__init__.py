"""Alembic migrations of the cities schema (run with `cityscale migrate`, see store/migrate.py)."""
