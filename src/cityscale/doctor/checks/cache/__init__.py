"""Checks of the cache layer."""
