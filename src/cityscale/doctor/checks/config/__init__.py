"""Checks of the config layer."""
