"""The chaos load driver against a real HTTP/1.1 server on loopback: what it sends and what it records.

The server is a few lines of asyncio in this process (no mock of the client): it answers like the API
behind nginx (`X-Cache`, `Retry-After`, problem bodies), records what arrived, and can misbehave the
ways the faults make the stack misbehave: answer slowly, never answer, or close a kept-alive
connection on the next request (what nginx's old workers do on a reload).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from cityscale.chaos.driver import NO_ANSWER, NOT_SENT, LoadDriver, LoadPlan, OpenLoopDriver, RequestRecord

TOKEN = "test-token"
LONG_TITLE = "x" * 300  # an error body longer than the 200 characters the driver keeps


@dataclass
class FakeApi:
    """`GET /api/cities/{id}` and `PATCH /api/cities/{key}`; id 13 and key 5 answer 503 + Retry-After."""

    write_delay: float = 0.0
    hang: bool = False  # read requests, never answer
    drop_kept_alive: bool = False  # close a connection, unanswered, on its second request
    port: int = 0
    arrived: list[tuple[str, str, bytes]] = field(default_factory=list)
    writes_in_flight: Counter[int] = field(default_factory=Counter)
    most_in_flight_per_key: int = 0
    unauthorised: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.arrived.append((method, path, body))
                if self.hang:
                    await reader.read()  # until the client gives up and closes
                    return
                if self.drop_kept_alive and answered:
                    return
                writer.write(await self.answer(method, path, body, headers))
                answered += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        number = int(path.rsplit("/", 1)[1])
        if method == "PATCH":
            if headers.get("authorization") != f"bearer {TOKEN}":
                self.unauthorised += 1
            self.writes_in_flight[number] += 1
            self.most_in_flight_per_key = max(self.most_in_flight_per_key, self.writes_in_flight[number])
            await asyncio.sleep(self.write_delay)
            self.writes_in_flight[number] -= 1
            if number == 5:
                return response(503, {"Retry-After": "1"}, {"title": "Database unavailable"})
            return response(200, {}, {"id": number, **json.loads(body)})
        if number == 13:
            return response(503, {"Retry-After": "2", "X-Cache": "none"}, {"title": LONG_TITLE})
        return response(200, {"X-Cache": "redis"}, {"id": number, "population": 1})


def response(status: int, headers: dict[str, str], payload: dict[str, object]) -> bytes:
    body = json.dumps(payload).encode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"HTTP/1.1 {status} X\r\n{head}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


@asynccontextmanager
async def serving(api: FakeApi) -> AsyncIterator[FakeApi]:
    server = await asyncio.start_server(api.handle, "127.0.0.1", 0)
    api.port = server.sockets[0].getsockname()[1]
    try:
        yield api
    finally:
        server.close()


def plan(api: FakeApi, **overrides: object) -> LoadPlan:
    fields: dict[str, object] = {
        "base_url": f"http://127.0.0.1:{api.port}",
        "token": TOKEN,
        "keys": (1, 2),
        "read_ids": (7,),
        "rate": 200.0,
        "list_share": 0.0,
        "max_seconds": 0.5,
        "timeout": 2.0,
    }
    fields.update(overrides)
    return LoadPlan(**fields)  # type: ignore[arg-type]


async def drive(load: LoadPlan) -> list[RequestRecord]:
    driver: LoadDriver = OpenLoopDriver(load)
    driver.start()
    await asyncio.sleep(load.max_seconds)
    return await driver.stop()


async def test_reads_capture_the_cache_and_retry_after_headers_and_the_error_body() -> None:
    async with serving(FakeApi()) as api:
        records = await drive(plan(api, read_ids=(7, 13), write_share=0.0))
    assert len(records) == 100  # 0.5 s at 200/s, every one answered and recorded
    good = [r for r in records if r.path == "/api/cities/7"]
    bad = [r for r in records if r.path == "/api/cities/13"]
    assert good
    assert bad
    assert {(r.status, r.cache, r.retry_after, r.detail) for r in good} == {(200, "redis", None, "")}
    assert {(r.status, r.cache, r.retry_after) for r in bad} == {(503, "none", "2")}
    assert all(r.detail == json.dumps({"title": LONG_TITLE})[:200] for r in bad)
    assert all(0 < r.latency < 1 for r in records)


async def test_writes_are_recorded_with_their_value_and_answer_one_per_key_in_flight() -> None:
    async with serving(FakeApi(write_delay=0.05)) as api:
        records = await drive(plan(api, keys=(1, 2, 5), write_share=1.0))
    writes = [r for r in records if r.kind == "write"]
    assert len(writes) > 10
    assert api.most_in_flight_per_key == 1  # a due write never takes a key whose write is unanswered
    assert api.unauthorised == 0
    assert len(writes) + sum(r.kind == "read" for r in records) == len(records) == 100  # no key free: a read
    # Each record's value is the one the server received for that key, from one increasing counter.
    sent = [(path, json.loads(body)["population"]) for method, path, body in api.arrived if method == "PATCH"]
    assert sorted(sent) == sorted((r.path, r.value) for r in writes)
    values = [value for _, value in sent]
    assert len(set(values)) == len(values)
    for key in (1, 2, 5):  # per key, the server sees them in counter order: the last answer is the last value
        in_order = [value for path, value in sent if path == f"/api/cities/{key}"]
        assert in_order == sorted(in_order)
    for record in writes:
        assert record.path == f"/api/cities/{record.key}"
        assert record.latency >= 0.05  # from the due time, which is before the server's delay
        if record.key == 5:
            assert (record.status, record.retry_after) == (503, "1")
            assert "Database unavailable" in record.detail
        else:
            assert (record.status, record.retry_after, record.detail) == (200, None, "")


async def test_paused_writes_send_only_reads_and_wait_idle_sees_none_in_flight() -> None:
    async with serving(FakeApi(write_delay=0.3)) as api:
        driver = OpenLoopDriver(plan(api, write_share=1.0, max_seconds=1.0))
        driver.start()
        await asyncio.sleep(0.1)
        driver.pause_writes()
        assert await driver.wait_writes_idle(2.0)
        assert [r for r in driver.records if r.kind == "write" and r.status == NO_ANSWER] == []
        written = sum(r.kind == "write" for r in driver.records)
        await asyncio.sleep(0.2)
        assert sum(r.kind == "write" for r in driver.records) == written  # none sent while paused
        driver.resume_writes()
        await asyncio.sleep(0.1)
        records = await driver.stop()
    assert sum(r.kind == "write" for r in records) > written
    assert all(r.status == 200 for r in records)


async def test_a_request_on_a_kept_alive_connection_closed_unanswered_is_retried_once() -> None:
    async with serving(FakeApi(drop_kept_alive=True)) as api:
        records = await drive(plan(api, rate=20.0, max_seconds=1.0, write_share=0.3, keys=(1, 2, 3, 4)))
    retried = [r for r in records if r.detail.startswith("retried once")]
    assert {r.kind for r in retried} == {"read", "write"}
    # Every request answered: the one on a closing kept-alive connection went again, once, on a new one.
    # Writes too: an absolute-value PATCH is idempotent, and no other write to its key is in flight.
    assert {r.status for r in records} == {200}
    for method, kind in (("GET", "read"), ("PATCH", "write")):
        arrived = sum(m == method for m, _, _ in api.arrived)
        assert arrived == sum(r.kind == kind for r in records) + sum(r.kind == kind for r in retried)


async def test_a_new_connection_closed_unanswered_is_not_retried() -> None:
    api = FakeApi(drop_kept_alive=True)
    async with serving(api):
        # Every request on its own new connection (the previous one was dropped or kept): at 5/s with
        # reads only, requests alternate between answered (new connection) and retried (kept alive).
        records = await drive(plan(api, rate=5.0, max_seconds=1.0, write_share=0.0))
    assert [r.status for r in records] == [200] * 5
    assert sum(method == "GET" for method, _, _ in api.arrived) == 5 + sum(r.detail != "" for r in records)


async def test_requests_due_with_every_slot_taken_are_recorded_not_sent() -> None:
    async with serving(FakeApi(hang=True)) as api:
        records = await drive(plan(api, rate=50.0, max_seconds=0.3, max_in_flight=3, timeout=0.5, write_share=0.0))
    statuses = Counter(r.status for r in records)
    assert statuses == {NOT_SENT: 12, NO_ANSWER: 3}  # 15 due in 0.3 s, 3 slots held by unanswered requests
    assert len(api.arrived) == 3
    unanswered = [r for r in records if r.status == NO_ANSWER]
    assert all("timeout" in r.detail and r.latency >= 0.5 for r in unanswered)
