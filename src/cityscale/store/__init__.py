"""Data access: connection pools, the cities queries, schema migrations."""
