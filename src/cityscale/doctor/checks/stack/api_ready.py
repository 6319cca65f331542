"""The API instance answers `/readyz`; when it answers 503, which of its dependencies it cannot reach.

Probes the port the compose file publishes for the api service's 3000, else 3000. Nothing listening
is a skip (the doctor cannot know whether the API should be running); `network.ports` reports a
port held by something else.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

API_PORT = 3000
TIMEOUT_SECONDS = 3.0


def api_port(ctx: Context) -> int:
    compose = ctx.compose
    if compose is not None and compose.api_service:
        for published in compose.published_ports():
            if (
                published.service == compose.api_service
                and published.container_port == API_PORT
                and published.host_port
            ):
                return published.host_port
    return API_PORT


@check("stack.api-ready", Layer.STACK, "the API instance is ready to serve")
def api_ready(ctx: Context) -> Outcome:
    port = api_port(ctx)
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
        exc.close()
    except TimeoutError:
        return fail(
            f"127.0.0.1:{port} accepts connections but /readyz gave no answer within {TIMEOUT_SECONDS:g} s",
            remediation=f"curl -sv {url}   # a hung or overloaded instance: check its log, restart it",
        )
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionRefusedError):
            return skip(f"no API instance listens on 127.0.0.1:{port} (start one: cityscale serve)")
        return fail(f"cannot reach {url}: {exc.reason}", remediation=f"curl -sv {url}")
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict) or "status" not in document:
        return warn(
            f"127.0.0.1:{port} answers /readyz with HTTP {status}, but not as the cityscale API",
            body[:200].decode("utf-8", "replace"),
            remediation=f"ss -ltnp 'sport = :{port}'   # which program is this?",
        )
    checks = document.get("checks")
    if isinstance(checks, dict):
        evidence = [f"{name}: {json.dumps(state)}" for name, state in checks.items()]
    else:  # an error document (problem+json) instead of the readiness report
        evidence = [f"{key}: {document[key]}" for key in ("title", "detail") if key in document]
    if status == 200:
        return ok(f"the API on port {port} is ready", *evidence)
    return fail(
        f"the API on port {port} answers /readyz with HTTP {status}: it cannot serve",
        *evidence,
        remediation=f"curl -s {url}   # the failing dependency is named above; see the database.* and cache.* checks",
    )
