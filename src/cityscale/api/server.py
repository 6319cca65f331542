"""Running the app under granian (Rust HTTP server; see docs/adr/0001-http-stack.md).

Each worker process imports `create_app_from_environment` and builds its own app, pools and clients;
nothing is shared between workers but the listening socket. On SIGTERM or SIGINT granian stops
accepting, lets in-flight requests finish, runs the lifespan shutdown (pools close), and exits 0.
"""

from __future__ import annotations

APP_FACTORY = "cityscale.api.app:create_app_from_environment"


def run_server(*, host: str, port: int, workers: int, log_level: str) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(
        APP_FACTORY,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_level=LogLevels(log_level if log_level != "critical" else "critical"),
        log_access=False,  # our own JSON access log (request_context.py) has the original's fields
        backlog=2048,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    )
    server.serve()
