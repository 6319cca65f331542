"""After a scenario: no acknowledged write lost, replicas agree once caught up, caches converge in bound.

Run with writes paused and none in flight, so the primary's value of each key is final for the check.
Per key, writes were sent one at a time (driver.py), so the value on the primary must be the last
acknowledged one or a later write whose answer was lost (it may have committed: the table allows
"committed or not"); anything else is a lost acknowledged write.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg
import httpx

from cityscale.chaos.checks import Check
from cityscale.chaos.driver import RequestRecord
from cityscale.chaos.faults import replica_caught_up
from cityscale.chaos.target import StackTarget

CATCH_UP_LIMIT = 60.0
POLL_INTERVAL = 0.1


@dataclass
class KeyHistory:
    last_acked: int | None = None
    last_acked_at: float = 0.0
    unacked_after: tuple[int, ...] = ()


def histories(records: list[RequestRecord]) -> dict[int, KeyHistory]:
    """Per key: the last acknowledged value, when it was acknowledged, and the values sent after it."""
    found: dict[int, KeyHistory] = {}
    for record in sorted((r for r in records if r.kind == "write"), key=lambda r: r.due):
        assert record.key is not None  # noqa: S101 - every write has a key
        assert record.value is not None  # noqa: S101 - and a value
        history = found.setdefault(record.key, KeyHistory())
        if record.status == 200:
            history.last_acked, history.last_acked_at, history.unacked_after = (
                record.value,
                record.due + record.latency,
                (),
            )
        else:
            history.unacked_after += (record.value,)
    return found


async def values_on(url: str, keys: list[int]) -> dict[int, int]:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        rows = await conn.fetch("SELECT id, population FROM cities WHERE id = ANY($1::bigint[])", keys, timeout=10)
    finally:
        await conn.close()
    return {int(row["id"]): int(row["population"]) for row in rows}


def lost_writes(primary: dict[int, int], history: dict[int, KeyHistory]) -> list[str]:
    lost = []
    for key, seen in history.items():
        if seen.last_acked is None:
            continue
        allowed = {seen.last_acked, *seen.unacked_after}
        if primary.get(key) not in allowed:
            lost.append(f"id {key}: primary has {primary.get(key)}, last acknowledged {seen.last_acked}")
    return lost


async def durability_checks(target: StackTarget, records: list[RequestRecord]) -> tuple[list[Check], dict[int, int]]:
    history = histories(records)
    keys = sorted(history)
    primary = await values_on(target.database_url("primary"), keys)
    acked = sum(1 for r in records if r.kind == "write" and r.status == 200)
    lost = lost_writes(primary, history)
    checks = [
        Check(
            "acknowledged writes on the primary",
            "every one present (last acknowledged value per key, or a later unanswered write)",
            f"{acked} acknowledged on {len(keys)} keys, {len(lost)} lost"
            + (f": {'; '.join(lost[:3])}" if lost else ""),
            not lost,
        )
    ]
    for name in target.replica_names:
        deadline = time.monotonic() + CATCH_UP_LIMIT
        caught_up = await replica_caught_up(target, name)
        while not caught_up and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            caught_up = await replica_caught_up(target, name)
        replica = await values_on(target.database_url(name), keys)
        differ = [k for k in keys if replica.get(k) != primary.get(k)]
        checks.append(
            Check(
                f"acknowledged writes on {name}",
                "equal to the primary once caught up",
                f"{len(keys) - len(differ)}/{len(keys)} keys equal"
                + (f"; differ: {differ[:5]}" if differ else "")
                + ("" if caught_up else f"; not caught up within {CATCH_UP_LIMIT:g} s"),
                not differ and caught_up,
            )
        )
    return checks, primary


async def staleness_checks(
    target: StackTarget, records: list[RequestRecord], primary: dict[int, int], bound: float
) -> list[Check]:
    """The instances (L1 + Redis) and nginx's microcache, checked at the same time but judged apart."""
    return list(
        await asyncio.gather(
            staleness_check(
                records, primary, bound, layers=target.api_urls, name="no instance cache stale beyond the bound"
            ),
            staleness_check(
                records,
                primary,
                bound,
                layers={"nginx": target.url},
                name="nginx microcache not stale beyond the bound",
            ),
        )
    )


async def staleness_check(
    records: list[RequestRecord],
    primary: dict[int, int],
    bound: float,
    *,
    layers: dict[str, str],
    name: str,
) -> Check:
    """Read every written key through nginx and each instance until all agree with the primary.

    A key's staleness is from its last acknowledged write to the first round in which every layer
    served the primary's value; a key fresh in the first round counts as 0 (no staleness was seen).
    """
    history = histories(records)
    keys = sorted(primary)
    first_fresh: dict[int, float] = {}
    stale_in_first_round: set[int] = set()
    examples: dict[int, str] = {}  # per key, the last stale answer seen: layer, value, X-Cache, Age
    rounds = 0
    deadline = time.monotonic() + bound + 5.0
    async with httpx.AsyncClient(timeout=2.0) as client:
        while len(first_fresh) < len(keys) and time.monotonic() < deadline:
            for key in keys:
                if key in first_fresh:
                    continue
                answers = await asyncio.gather(
                    *(_population(client, f"{url}/api/cities/{key}") for url in layers.values())
                )
                if all(value == primary[key] for value, _ in answers):
                    first_fresh[key] = time.monotonic()
                    continue
                named = zip(layers, answers, strict=True)
                stale = [f"{name}={v} ({how})" for name, (v, how) in named if v != primary[key]]
                examples[key] = f"id {key} primary={primary[key]}: " + ", ".join(stale)
                if rounds == 0:
                    stale_in_first_round.add(key)
            rounds += 1
            await asyncio.sleep(POLL_INTERVAL)
    never = [k for k in keys if k not in first_fresh]
    worst = 0.0
    for key in stale_in_first_round - set(never):
        acked_at = history[key].last_acked_at if key in history else first_fresh[key]
        worst = max(worst, first_fresh[key] - acked_at)
    observed = f"{len(stale_in_first_round)} keys stale at first read, worst {worst:.2f} s after the write"
    if never:
        observed += f"; never converged within {bound + 5:g} s: {never[:5]}"
    if stale_in_first_round and (never or worst > bound):
        worst_key = never[0] if never else max(stale_in_first_round - set(never), key=lambda k: first_fresh[k])
        observed += f"; last stale answer: {examples.get(worst_key, '?')}"
    return Check(
        name,
        f"{', '.join(layers)} serve the primary's value within {bound:g} s",
        observed,
        not never and worst <= bound,
    )


async def _population(client: httpx.AsyncClient, url: str) -> tuple[int | None, str]:
    """The population served at `url`, and how (X-Cache, X-Micro-Cache, Age) for the report."""
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    headers = response.headers
    how = (
        f"{response.status_code} x-cache={headers.get('x-cache')} micro={headers.get('x-micro-cache')}"
        f" age={headers.get('age')}"
    )
    if response.status_code != 200:
        return None, how
    value = response.json().get("population")
    return (int(value) if isinstance(value, int) else None), how
