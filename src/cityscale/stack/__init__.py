"""Launching the real components (PostgreSQL, Redis, nginx, API instances) on one machine.

`cityscale serve`'s embedded database, `cityscale up` and the test suite all start their servers with
these modules, so what the tests exercise is what users run.
"""
