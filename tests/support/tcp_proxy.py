"""A TCP proxy that can turn into a blackhole (it keeps accepting connections and stops answering) or
answer slowly (every chunk from the server held for a delay).

That is what a hung database or cache looks like from the client (SYN-ACK, then silence), which is
harder on timeouts than a refused connection. Runs its own event loop in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from cityscale.stack.ports import free_port


class TcpProxy:
    def __init__(self, target_port: int, *, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._blackholed = threading.Event()
        self._delay = 0.0  # seconds each server-to-client chunk is held (read by the proxy's thread)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", self.port), self._loop
        ).result(5)

    def stop(self) -> None:
        """Close the listener and every connection (idempotent): afterwards connecting is refused."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def blackhole(self) -> None:
        """From now on, bytes in either direction are held, and new connections are never forwarded."""
        self._blackholed.set()

    def restore(self) -> None:
        self._blackholed.clear()
        self._delay = 0.0

    def slow(self, delay: float) -> None:
        """From now on, hold every chunk the server sends for `delay` seconds: requests still reach the
        server at once (so it can count them), answers come late, as from an overloaded server."""
        self._delay = delay

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while self._blackholed.is_set():
                await asyncio.sleep(0.05)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer, answers=True))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)  # type: ignore[arg-type]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, answers: bool = False) -> None:
        try:
            while data := await reader.read(65536):
                while self._blackholed.is_set():
                    await asyncio.sleep(0.05)
                if answers and self._delay > 0:
                    await asyncio.sleep(self._delay)
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError):
                writer.close()


@contextmanager
def tcp_proxy(target_port: int) -> Iterator[TcpProxy]:
    proxy = TcpProxy(target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
