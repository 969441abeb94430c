"""Per-key rate limits: one key over its limit gets 429 while other tenants' keys go on."""

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from devtools.embedded import free_port, wait_for_port
from services.attempts.app import create_app as create_attempts_app
from services.attempts.config import AttemptsConfig
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.tenants import define_standard, new_tenant

LIMIT = 5
STANDARD = "sci.energy"


def _attempt() -> dict[str, object]:
    return {
        "attempt_id": f"ticket-{uuid.uuid4().hex[:12]}",
        "student_id": "sam",
        "standard_id": STANDARD,
        "score": 3,
        "points_possible": 4,
        "assessed_at": "2026-10-05T10:00:00Z",
    }


def _config(database_url: str, servers: Servers, bus: BusNames, **limits: Any) -> AttemptsConfig:
    # Per minute, one request every 12 s, so no request is given back while a test runs.
    defaults: dict[str, Any] = {
        "rate_limit_requests": LIMIT,
        "rate_limit_window": "minute",
        "rate_limit_burst": LIMIT,
    }
    return AttemptsConfig(
        database_url=database_url,
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
        **{**defaults, **limits},
    )


async def _tenant_with_standard(pool: asyncpg.Pool, bus: BusNames, prefix: str) -> dict[str, str]:
    tenant_id, auth = await new_tenant(pool, prefix)
    await define_standard(pool, bus, tenant_id, STANDARD)
    return auth


async def _post(client: AsyncTestClient[Any], auth: dict[str, str]) -> int:
    response = await client.post("/v1/attempts", json=_attempt(), headers=auth)
    return response.status_code


async def test_a_key_over_its_limit_gets_429_with_retry_after_while_another_tenant_writes(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth_a = await _tenant_with_standard(pool, bus, "a")
    auth_b = await _tenant_with_standard(pool, bus, "b")
    app = create_attempts_app(_config(database_url, servers, bus))
    async with AsyncTestClient(app) as client:
        statuses = [await _post(client, auth_a) for _ in range(LIMIT + 4)]
        refused = await client.post("/v1/attempts", json=_attempt(), headers=auth_a)
        b_statuses = [await _post(client, auth_b) for _ in range(3)]
        health = await client.get("/health/live", headers=auth_a)
        schema = await client.get("/schema/openapi.json", headers=auth_a)

    # The first request verifies the key (nothing to count it by yet); the next LIMIT count.
    assert statuses == [201] * (LIMIT + 1) + [429] * 3
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "/problems/rate-limited"
    # The key is LIMIT intervals ahead of schedule: its next request is on time in 12 s.
    assert refused.headers["retry-after"] == "12"
    assert refused.headers["ratelimit-limit"] == str(LIMIT)
    assert refused.headers["ratelimit-remaining"] == "0"
    assert b_statuses == [201, 201, 201]
    assert (health.status_code, schema.status_code) == (200, 200)


async def test_unknown_keys_are_not_counted_against_the_key_they_name(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    key_id = auth["Authorization"].split("_")[1]
    forged = {"Authorization": f"Bearer mk_{key_id}_not-the-secret"}
    app = create_attempts_app(_config(database_url, servers, bus))
    async with AsyncTestClient(app) as client:
        forged_statuses = [await _post(client, forged) for _ in range(LIMIT * 2)]
        statuses = [await _post(client, auth) for _ in range(LIMIT + 1)]

    assert forged_statuses == [401] * (LIMIT * 2)
    assert statuses == [201] * (LIMIT + 1)


async def test_a_limit_of_zero_turns_the_limit_off(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    config = msgspec.structs.replace(_config(database_url, servers, bus), rate_limit_requests=0)
    app = create_attempts_app(config)
    async with AsyncTestClient(app) as client:
        statuses = [await _post(client, auth) for _ in range(LIMIT * 3)]

    assert statuses == [201] * (LIMIT * 3)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of this test's own on a free loopback port, keeping nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, 10, process)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


async def test_instances_sharing_redis_count_a_key_together_and_let_requests_through_without_it(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, redis_url: str
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    config = _config(database_url, servers, bus, rate_limit_redis_url=redis_url)
    async with (
        AsyncTestClient(create_attempts_app(config)) as first,
        AsyncTestClient(create_attempts_app(config)) as second,
    ):
        # Each instance verifies the key once on its own; from then on they share one count.
        warm = [await _post(first, auth), await _post(second, auth)]
        statuses = [await _post(client, auth) for client in (first, second) * LIMIT]

    assert warm == [201, 201]
    assert statuses[:LIMIT] == [201] * LIMIT
    assert statuses[LIMIT:] == [429] * LIMIT


async def test_instances_sharing_redis_admit_exactly_the_budget_of_concurrent_requests(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, redis_url: str
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    config = _config(database_url, servers, bus, rate_limit_redis_url=redis_url)
    async with (
        AsyncTestClient(create_attempts_app(config)) as first,
        AsyncTestClient(create_attempts_app(config)) as second,
    ):
        warm = [await _post(first, auth), await _post(second, auth)]
        # All at once from both instances: a read-then-write store would admit more than LIMIT.
        statuses = await asyncio.gather(*(_post(c, auth) for c in (first, second) * LIMIT * 2))

    assert warm == [201, 201]
    assert sorted(statuses) == [201] * LIMIT + [429] * LIMIT * 3


async def test_an_unreachable_redis_lets_requests_through(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    config = _config(database_url, servers, bus, rate_limit_redis_url=nothing_there)
    async with AsyncTestClient(create_attempts_app(config)) as client:
        statuses = [await _post(client, auth) for _ in range(LIMIT * 2)]

    assert statuses == [201] * (LIMIT * 2)


async def test_a_key_at_a_steady_rate_under_its_limit_is_never_refused(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth = await _tenant_with_standard(pool, bus, "a")
    # 20/s with a burst of 2: a fixed window would let 20 through in the first instant instead.
    config = _config(
        database_url, servers, bus,
        rate_limit_requests=20, rate_limit_window="second", rate_limit_burst=2,
    )  # fmt: skip
    app = create_attempts_app(config)
    async with AsyncTestClient(app) as client:
        statuses = []
        for _ in range(30):  # two seconds at 15/s, each send at least 1/15 s after the last
            sent = time.monotonic()
            statuses.append(await _post(client, auth))
            await asyncio.sleep(max(0.0, sent + 1 / 15 - time.monotonic()))

    assert statuses == [201] * 30


async def test_a_burst_beyond_the_burst_size_is_refused_until_its_next_interval(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    auth_a = await _tenant_with_standard(pool, bus, "a")
    auth_b = await _tenant_with_standard(pool, bus, "b")
    app = create_attempts_app(_config(database_url, servers, bus, rate_limit_burst=2))
    async with AsyncTestClient(app) as client:
        await _post(client, auth_a)  # verifies the key; not counted
        admitted = [await client.post("/v1/attempts", json=_attempt(), headers=auth_a)]
        admitted.append(await client.post("/v1/attempts", json=_attempt(), headers=auth_a))
        refused = [
            await client.post("/v1/attempts", json=_attempt(), headers=auth_a) for _ in range(3)
        ]
        b_statuses = [await _post(client, auth_b) for _ in range(3)]

    assert [r.status_code for r in admitted] == [201, 201]
    assert [r.headers["ratelimit-remaining"] for r in admitted] == ["1", "0"]
    assert [r.status_code for r in refused] == [429, 429, 429]
    # 5 per minute is one every 12 s; the key spent its burst of 2 just now, so 12 s (rounded up).
    assert [r.headers["retry-after"] for r in refused] == ["12", "12", "12"]
    assert refused[0].headers["ratelimit-policy"] == f"{LIMIT};w=60;burst=2"
    assert b_statuses == [201, 201, 201]
