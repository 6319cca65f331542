"""Real processes holding ports and database connections, for the doctor to find."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cityscale.stack.binaries import require_binary

LISTENER = textwrap.dedent(
    """
    import socket, sys, time
    sock = socket.socket()
    sock.bind(("127.0.0.1", int(sys.argv[1])))
    sock.listen()
    print("ready", flush=True)
    time.sleep(120)  # bounded: the test kills it long before
    """
)

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    import asyncpg

    async def main(url, count, in_transaction):
        held = []
        for _ in range(count):
            conn = await asyncpg.connect(url, server_settings={"application_name": "cityscale"})
            if in_transaction:
                tr = conn.transaction()
                await tr.start()
            await conn.fetchval("SELECT 1")  # then never commit, never release: the leak
            held.append(conn)
        print("ready", flush=True)
        await asyncio.sleep(120)  # bounded: the test kills it long before

    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3] == "txn"))
    """
)


@contextmanager
def _child(argv: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"helper did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
        yield proc
    finally:
        proc.kill()
        proc.communicate(timeout=10)  # reaps it and closes the pipes


@contextmanager
def python_listener(port: int) -> Iterator[subprocess.Popen[str]]:
    """A plain Python process listening on 127.0.0.1:`port`."""
    with _child([sys.executable, "-c", LISTENER, str(port)]) as proc:
        yield proc


@contextmanager
def leaked_connections(url: str, count: int, *, in_transaction: bool = True) -> Iterator[subprocess.Popen[str]]:
    """A client process holding `count` connections named `cityscale`, idle in transaction (or just idle)."""
    with _child([sys.executable, "-c", HOLDER, url, str(count), "txn" if in_transaction else "idle"]) as proc:
        yield proc


@contextmanager
def nginx_on(port: int, base: Path) -> Iterator[subprocess.Popen[str]]:
    """A real nginx listening on 127.0.0.1:`port` (the incident: nginx holding the API's port)."""
    base.mkdir(parents=True, exist_ok=True)
    conf = base / "nginx.conf"
    conf.write_text(
        f"daemon off;\nmaster_process on;\nworker_processes 1;\npid {base}/nginx.pid;\nerror_log {base}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{ access_log off; client_body_temp_path {base}/body; proxy_temp_path {base}/proxy;\n"
        f"  fastcgi_temp_path {base}/fastcgi; uwsgi_temp_path {base}/uwsgi; scgi_temp_path {base}/scgi;\n"
        f"  server {{ listen 127.0.0.1:{port}; return 200 'nginx'; }} }}\n"
    )
    nginx = require_binary("nginx", "nginx")
    proc = subprocess.Popen([str(nginx), "-p", str(base), "-c", str(conf)], stderr=subprocess.PIPE, text=True)
    try:
        from cityscale.stack.process import wait_for_http

        wait_for_http(f"http://127.0.0.1:{port}/", timeout=10)
        yield proc
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
