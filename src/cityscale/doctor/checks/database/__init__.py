"""Checks of the database layer."""
