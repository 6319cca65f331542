"""A bounded pool of keep-alive connections for the open-loop scheduler.

Requests that find every connection busy wait in FIFO order; their latency keeps counting from the
scheduled time, so a capped pool cannot hide the server's slowness (it shows as `waited_for_connection`).
"""

from __future__ import annotations

import asyncio
from collections import deque

from cityscale.loadtest.client import Connection
from cityscale.loadtest.target import Target


class ConnectionPool:
    def __init__(
        self, target: Target, size: int, connect_timeout: float, *, capture: frozenset[bytes] = frozenset()
    ) -> None:
        self._target = target
        self._capture = capture  # response headers each connection returns (`Connection`'s `capture`)
        self._size = size
        self._connect_timeout = connect_timeout
        self._idle: list[Connection] = []
        self._opened: set[Connection] = set()  # to close them all at the end, idle or not
        self._waiters: deque[asyncio.Future[Connection | None]] = deque()
        self.slots_taken = 0  # connections open or being opened
        self.peak = 0

    async def acquire(self) -> tuple[Connection, bool]:
        """A connection, and whether the request had to wait for one."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, False
            self._opened.discard(connection)
            self._free_slot()
        waited = False
        if self.slots_taken >= self._size:
            waited = True
            waiter: asyncio.Future[Connection | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            handed = await waiter
            if handed is not None:
                return handed, True
            # a slot was handed over (a connection closed): open a fresh one in it
        else:
            self.slots_taken += 1
            self.peak = max(self.peak, self.slots_taken)
        try:
            connection = await Connection.open(
                self._target.host, self._target.port, self._connect_timeout, capture=self._capture
            )
        except BaseException:
            self._free_slot()
            raise
        self._opened.add(connection)
        return connection, waited

    def release(self, connection: Connection) -> None:
        if connection.closed:
            self._opened.discard(connection)
            self._free_slot()
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the waiter opens a connection in this slot
                return
        self.slots_taken -= 1

    def close(self) -> None:
        for connection in self._opened:
            connection.close()
        self._opened.clear()
        self._idle.clear()
