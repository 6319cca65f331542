"""A tiny HTTP/1.1 server with a known, injected delay: the ground truth for the accuracy tests.

Every response leaves `delay` seconds after the request arrived, except that a request arriving inside
a stall window (the first `stall` seconds of every `period`, counted from `epoch` = `lead` seconds after
the first request arrived, so the stall falls inside a short run) waits for the window to end first.
So a client that sends at time s sees exactly `true_latency(s)`; the server reads time.monotonic(),
the same clock as the load generator in another process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from cityscale.stack.ports import free_port


@dataclass
class DelaySchedule:
    delay: float
    stall: float = 0.0
    period: float = 1.0
    lead: float = 1.0
    epoch: float | None = None

    def begin(self, first_arrival: float) -> None:
        if self.epoch is None:
            self.epoch = first_arrival + self.lead

    def stall_end(self, t: float) -> float | None:
        """When the stall holding time `t` ends, or None outside every stall."""
        if self.stall <= 0 or self.epoch is None or t < self.epoch:
            return None
        phase = (t - self.epoch) % self.period
        return t - phase + self.stall if phase < self.stall else None

    def true_latency(self, sent_at: float) -> float:
        return (self.stall_end(sent_at) or sent_at) + self.delay - sent_at


@dataclass
class DelayServer:
    schedule: DelaySchedule
    port: int
    requests: int = 0
    bodies: list[bytes] = field(default_factory=list)
    next_id: int = 1
    hang_up: bool = False  # read each request, then close the connection without answering
    # When each response was really written (time.monotonic()): on a busy host the server thread can
    # answer later than the schedule says (200 requests released together at a stall's end), and the
    # generator is right to report that.
    responded: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.monotonic()
                self.schedule.begin(arrived)
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                if self.hang_up:
                    break
                release = (self.schedule.stall_end(arrived) or arrived) + self.schedule.delay
                await asyncio.sleep(max(0.0, release - time.monotonic()))
                if head.startswith(b"POST"):
                    self.bodies.append(body)
                    payload = b'{"id": %d}' % self.next_id
                    self.next_id += 1
                    status = b"201 Created"
                else:
                    payload, status = b'{"ok": true}', b"200 OK"
                writer.write(
                    b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (status, len(payload), payload)
                )
                self.responded.append(time.monotonic())
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


@contextmanager
def delay_server(schedule: DelaySchedule, *, hang_up: bool = False) -> Iterator[DelayServer]:
    """The server on a free loopback port, in a thread with its own event loop; stopped on exit."""
    port = free_port()
    server = DelayServer(schedule, port, hang_up=hang_up)
    loop = asyncio.new_event_loop()

    async def serve() -> asyncio.Server:
        return await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)

    listening = loop.run_until_complete(serve())
    thread = threading.Thread(target=loop.run_forever, name="delay-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(listening.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(_cancel_all())
        loop.close()


async def _cancel_all() -> None:
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
