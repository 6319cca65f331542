"""Redis reachable (with the error class when not) and configured as a cache (bounded memory, evicting)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from cityscale.doctor.context import Context
from cityscale.doctor.registry import check
from cityscale.doctor.report import Layer, Outcome, fail, ok, skip, warn

TIMEOUT_SECONDS = 2.0


@check("cache.redis", Layer.CACHE, "Redis answers and evicts like a cache")
def redis_cache(ctx: Context) -> Outcome:  # noqa: PLR0911 - one return per failure class
    # imported here, not at module level: the registry imports every check, and redis-py pulls in its
    # asyncio client (and on Python < 3.11.3 the async_timeout package) at import; a broken client
    # install then costs this one check (reported as skip with the error), not the whole doctor
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = ctx.service_env.get("REDIS_URL")
    if not url:
        return skip("no Redis configured (REDIS_URL is empty): the API reads from the database only")
    parts = urlsplit(url)
    reached = ctx.reachable_address(parts.hostname or "", parts.port or 6379)
    if isinstance(reached, str):
        return skip(reached)
    host, port, note = reached
    if note is not None:
        netloc = parts.netloc.rpartition("@")[0]
        url = urlunsplit(parts._replace(netloc=f"{netloc}@{host}:{port}" if netloc else f"{host}:{port}"))
    parts = urlsplit(url)
    shown = f"{parts.hostname}:{parts.port or 6379}"
    # redis-py's defaults retry 10 times with 5 s timeouts (59 s against a blackhole): no retries here
    client = redis.Redis.from_url(
        url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
        try:
            config = client.config_get("maxmemory*")
        except redis.ResponseError as exc:  # CONFIG renamed or forbidden: reachable is all we can say
            return ok(f"Redis answers at {shown}", f"CONFIG GET refused: {exc}")
    except redis.AuthenticationError as exc:
        return fail(
            f"Redis at {shown} refused the credentials: {exc}",
            remediation="check the password in REDIS_URL (redis://:PASSWORD@host:6379/0)",
        )
    except redis.TimeoutError:
        return fail(
            f"Redis at {shown} accepted no answer within {TIMEOUT_SECONDS:g} s (paused or blackholed)",
            remediation=f"redis-cli -h {parts.hostname} -p {parts.port or 6379} ping",
        )
    except redis.ConnectionError as exc:
        return fail(
            f"cannot connect to Redis at {shown}: {exc}",
            "the API still serves from the database, slower, while Redis is down",
            remediation=f"systemctl start redis-server   # or correct REDIS_URL; check: redis-cli -h "
            f"{parts.hostname} -p {parts.port or 6379} ping",
        )
    finally:
        client.close()
    policy, maxmemory = str(config.get("maxmemory-policy", "?")), int(config.get("maxmemory", 0) or 0)
    evidence = f"maxmemory {maxmemory} bytes, maxmemory-policy {policy}"
    if maxmemory == 0 or policy == "noeviction":
        return warn(
            "Redis is not bounded like a cache: it grows until the machine swaps, or refuses writes when full",
            evidence,
            remediation=f"redis-cli -h {parts.hostname} -p {parts.port or 6379} CONFIG SET maxmemory 256mb; ... "
            f"CONFIG SET maxmemory-policy allkeys-lru  (and in redis.conf)",
        )
    return ok(f"Redis answers at {shown}", evidence)
