"""What `cityscale up` prints once every part is ready: each part's URL or address and its log files.

Every URL printed is one that answers (a user clicks it): an API instance by its `/readyz`, an exporter
by its `/metrics`, Prometheus' alerts page wherever this Prometheus serves it (Debian's build has no
React UI, so its `/alerts` is a 404 and the page is `/classic/alerts`).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cityscale.stack.supervisor import Stack

# Where Prometheus serves its alerts page: the React UI, then the classic one (Debian's 2.x packages).
ALERTS_PAGES = ("/alerts", "/classic/alerts")


def first_page_that_answers(base: str, paths: tuple[str, ...], *, timeout: float = 2) -> str | None:
    """`base + path` for the first path that answers 200, else None."""
    for path in paths:
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as response:  # noqa: S310 - our loopback
                if response.status == 200:
                    return base + path
        except (urllib.error.URLError, OSError):
            continue
    return None


def banner_lines(stack: Stack) -> list[str]:
    """The lines to print, in start order; call once every part is ready."""
    topology = stack.topology
    nginx, redis, prometheus = stack.nginx, stack.redis, stack.prometheus
    assert nginx is not None  # noqa: S101 - printed after nginx is up
    assert redis is not None  # noqa: S101
    lines = [
        "",
        f"cityscale is up: {stack.url}/api/cities  (docs: {stack.url}/docs)",
        f"  {'nginx':<26} {stack.url}/api/cities  (status: {nginx.status_url}; "
        f"access log: {nginx.access_log}; error log: {nginx.error_log})",
        *(
            f"  {api.name:<26} {api.url}/readyz  (metrics: {api.url}/metrics; log: {api.log_path})"
            for api in stack.apis
        ),
        f"  {'primary':<26} 127.0.0.1:{stack.primary.port}  (log: {stack.primary.log_file})",
        *(
            f"  {name:<26} 127.0.0.1:{replica.port}  (log: {replica.log_file})"
            for name, replica in zip(topology.replica_names, stack.replicas, strict=True)
        ),
        f"  {'redis':<26} 127.0.0.1:{redis.port}  (log: {redis.log_path})",
    ]
    if prometheus is not None:
        alerts = first_page_that_answers(prometheus.url, ALERTS_PAGES) or f"{prometheus.url}/api/v1/alerts"
        lines.append(f"  {'prometheus':<26} {prometheus.url}  (alerts: {alerts}; log: {prometheus.log_path})")
    lines += [
        f"  {exporter.name:<26} http://{exporter.address}/metrics  (log: {exporter.log_path})"
        for exporter in stack.exporters
    ]
    lines += [
        f"  writes need:   Authorization: Bearer $(cat {topology.token_file})",
        f"  state:         cityscale status --data-dir {topology.data_dir}",
        "Ctrl-C stops everything.",
    ]
    return lines
