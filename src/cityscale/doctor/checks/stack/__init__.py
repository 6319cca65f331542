"""Checks of the stack layer: the running service itself."""
