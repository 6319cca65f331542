"""What the failure tests observe: readiness, per-pool metrics, and a read-your-writes client.

Shared by tests/readpath/test_failures.py and test_replicas.py so each test states its fault and its
assertions, not the plumbing to see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import psutil

from cityscale.stack.postgres import PostgresCluster
from tests.observability.scrape import baseline, parse
from tests.support.load import SteadyLoad
from tests.support.topology import API_TOKEN, Topology

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
TOKEN_HEADER = "x-cityscale-lsn"


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def ready_check(topo: Topology, name: str) -> dict[str, object]:
    """The dependency's state as every instance sees it: ok only when ok everywhere."""
    async with httpx.AsyncClient(timeout=5) as client:
        answers = await asyncio.gather(*(client.get(f"{api.url}/readyz") for api in topo.apis))
    checks = [answer.json()["checks"][name] for answer in answers]
    failing = [check for check in checks if not check["ok"]]
    return failing[0] if failing else checks[0]  # type: ignore[no-any-return]


async def is_ok(topo: Topology, name: str) -> bool:
    return bool((await ready_check(topo, name))["ok"])


async def is_not_ok(topo: Topology, name: str) -> bool:
    return not await is_ok(topo, name)


# -- metrics -----------------------------------------------------------------------------------------


async def metric(topo: Topology, name: str, **labels: str) -> list[float]:
    """One sample per API instance (0 when absent): e.g. successful acquisitions of the replica's pool."""
    async with httpx.AsyncClient(timeout=5) as client:
        texts = [(await client.get(f"{api.url}/metrics")).text for api in topo.apis]
    # baseline(): a pool or breaker an instance has not used yet exports no series, which is a count of 0.
    return [baseline(parse(text), name, **labels) for text in texts]


async def pool_reads(topo: Topology, pool: str) -> list[float]:
    """Connections each instance borrowed from `pool` (`replica-1` or `primary`): one per database read."""
    return await metric(topo, "cityscale_db_pool_acquire_seconds_count", pool=pool)


async def breaker_states(topo: Topology, name: str) -> list[float]:
    """0 closed, 1 half-open, 2 open, per instance."""
    return await metric(topo, "cityscale_breaker_state", breaker=name)


async def uncached_reads(topo: Topology, count: int, *, token: str | None = None) -> list[httpx.Response]:
    """`count` list reads nobody asked for before (a fresh `min_population` each): every one is a
    database read, so the per-pool counters show where reads go. Token-less unless `token` is given."""
    headers = {TOKEN_HEADER: token} if token else {}
    answers = []
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(count):
            api = topo.apis[n % len(topo.apis)]
            floor = random.randint(1, 10**9)
            answers.append(await client.get(f"{api.url}/api/cities?limit=3&min_population={floor}", headers=headers))
    return answers


# -- a steady stream that also misses the cache ---------------------------------------------------------


def hot_or_miss(rng: random.Random) -> str:
    """Mostly hot items (cache hits), one in four a list page never asked for (a database read)."""
    if rng.random() < 0.25:
        return f"/api/cities?limit=3&min_population={rng.randint(1, 10**9)}"
    return f"/api/cities/{rng.randint(1, 300)}"


def mixed_load(topo: Topology) -> SteadyLoad:
    load = SteadyLoad([api.url for api in topo.apis], hot_or_miss, workers=8, max_seconds=90)
    load.start()
    return load


# -- read-your-writes under a fault ----------------------------------------------------------------------


@dataclass
class ReadYourWrites:
    """One client writing a city then reading it back with its token, in a loop.

    Every acknowledged write must be what the next read shows; `stale` collects any read that showed
    something else. Writes go to the first instance; two reads in three go to the second, which still
    holds the previous value in its L1 (only an invalidation message, lost while Redis is down, would
    drop it), the third to the writer itself. Alternates the header and the cookie as the token's
    carrier. Bounded in count and time.
    """

    topo: Topology
    city_id: int
    max_rounds: int = 400
    max_seconds: float = 60.0
    rounds: int = 0
    stale: list[tuple[int, object, int, str]] = field(default_factory=list)
    write_failures: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> ReadYourWrites:
        self._stop.set()
        if self._task is not None:
            await self._task
        return self

    async def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        apis = self.topo.apis
        async with httpx.AsyncClient(timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < deadline and self.rounds < self.max_rounds:
                n = self.rounds
                self.rounds += 1
                value = 100_000 + n
                client.cookies.clear()
                written = await client.patch(
                    f"{apis[0].url}/api/cities/{self.city_id}", json={"population": value}, headers=AUTH
                )
                if written.status_code != 200:
                    self.write_failures.append(written.status_code)
                    await asyncio.sleep(0.05)
                    continue
                by_header = n % 2 == 0
                if by_header:
                    client.cookies.clear()  # the header alone must be enough
                headers = {TOKEN_HEADER: written.headers[TOKEN_HEADER]} if by_header else {}
                reader = apis[-1] if n % 3 else apis[0]
                read = await client.get(f"{reader.url}/api/cities/{self.city_id}", headers=headers)
                got = read.json().get("population") if read.status_code == 200 else None
                if read.status_code != 200 or got != value:
                    self.stale.append((value, got, read.status_code, read.headers.get("x-cache", "")))
                await asyncio.sleep(0.02)

    def assert_never_stale(self, min_rounds: int = 10) -> None:
        assert self.rounds - len(self.write_failures) >= min_rounds, (
            f"only {self.rounds - len(self.write_failures)} acknowledged writes: the check saw too little"
        )
        assert self.stale == [], (
            f"a client read an older value than it wrote (wrote, saw, status, x-cache): {self.stale}"
        )


@contextlib.asynccontextmanager
async def read_your_writes(topo: Topology, city_id: int) -> AsyncIterator[ReadYourWrites]:
    checker = ReadYourWrites(topo, city_id)
    checker.start()
    try:
        yield checker
    finally:
        await checker.stop()


# -- a hung server ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def frozen(cluster: PostgresCluster) -> Iterator[None]:
    """SIGSTOP the postmaster and every backend: connections are accepted by the kernel and never
    answered, queries in flight never finish. What a hung host looks like. Always continued after."""
    pid = cluster.pid
    assert pid is not None
    postmaster = psutil.Process(pid)
    processes = [postmaster, *postmaster.children(recursive=True)]
    for process in processes:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGCONT)
