"""The read cache: an in-process L1 in front of Redis, both holding response bytes.

Only cache lives here; losing any of it loses nothing (the database is the truth).
"""
