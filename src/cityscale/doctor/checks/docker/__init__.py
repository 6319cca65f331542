"""Checks of the docker layer."""
