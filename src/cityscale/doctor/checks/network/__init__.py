"""Checks of the network layer."""
