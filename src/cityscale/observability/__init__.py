"""Prometheus metrics: family definitions, RED middleware, scrape-time collectors and the /metrics route."""
