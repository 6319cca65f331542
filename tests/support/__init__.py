"""Helpers shared by the test suite: real servers, started by the same code `cityscale up` uses."""
