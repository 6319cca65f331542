"""Checks of the host layer."""
