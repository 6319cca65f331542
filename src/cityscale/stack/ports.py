"""Free ports, and who holds a taken one."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil


def free_port(host: str = "127.0.0.1") -> int:
    """A port that is free right now (the OS picks it; a tiny race remains until it is bound)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` ports free right now, all distinct: every socket is held while the OS picks the next one
    (consecutive `free_port()` calls occasionally return the same port)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class PortHolder:
    """The process listening on a port, as far as this user can see it."""

    port: int
    pid: int | None
    program: str | None
    user: str | None

    def describe(self) -> str:
        if self.pid is None:
            return f"port {self.port} is taken by a process this user cannot see (try as root)"
        return f"port {self.port} is taken by {self.program or '?'} (pid {self.pid}, user {self.user or '?'})"


def port_holder(port: int) -> PortHolder | None:
    """Who listens on TCP `port` on any address; None when nobody does."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        connections = []
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return _describe_pid(port, conn.pid)
    if not port_is_free(port) or not port_is_free(port, "0.0.0.0"):  # noqa: S104 - probing, not serving
        return PortHolder(port, None, None, None)
    return None


def _describe_pid(port: int, pid: int | None) -> PortHolder:
    if pid is None:
        return PortHolder(port, None, None, None)
    try:
        proc = psutil.Process(pid)
        return PortHolder(port, pid, proc.name(), proc.username())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return PortHolder(port, pid, None, None)
