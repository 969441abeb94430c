"""A revoked key is refused by every running instance within a second, through PostgreSQL's
LISTEN/NOTIFY rather than the cache's expiry, and still after the listening session is lost."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar.testing import AsyncTestClient

from services.cli import main
from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from shared.platform.auth import KEY_CACHE_SECONDS
from shared.platform.bus import BusNames
from shared.platform.key_listener import APPLICATION_NAME
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.tenants import new_key, new_tenant

READ = "/v1/students/sam/mastery"
WITHIN = 1.0


@asynccontextmanager
async def _instances(
    database_url: str, servers: Servers, bus: BusNames, count: int = 2
) -> AsyncIterator[list[AsyncTestClient[Any]]]:
    config = MasteryConfig(
        database_url=database_url,
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    clients = [AsyncTestClient(create_app(config)) for _ in range(count)]
    for client in clients:
        await client.__aenter__()
    try:
        for client in clients:
            await eventually(lambda c=client: _listening(c), bool)  # type: ignore[misc]
        yield clients
    finally:
        for client in reversed(clients):
            await client.__aexit__(None, None, None)


async def _listening(client: AsyncTestClient[Any]) -> bool:
    """The instance's `keys` worker reports a lag only while its LISTEN session is up."""
    response = await client.get("/health/ready")
    return response.status_code == 200 and response.json()["workers"]["keys"]["lag"] is not None


async def _all_refuse(clients: list[AsyncTestClient[Any]], auth: dict[str, str]) -> float:
    """Seconds until every instance answers 401; fails past WITHIN."""
    started = time.monotonic()
    waiting = list(clients)
    while waiting:
        answers = await asyncio.gather(*(client.get(READ, headers=auth) for client in waiting))
        waiting = [c for c, r in zip(waiting, answers, strict=True) if r.status_code != 401]
        elapsed = time.monotonic() - started
        assert elapsed < WITHIN or not waiting, f"{len(waiting)} instance(s) still accept the key"
    return time.monotonic() - started


async def _revoke_with_the_cli(database_url: str, key_id: str) -> None:
    assert (
        await asyncio.to_thread(main, ["keys", "revoke", key_id, "--database-url", database_url])
        == 0
    )


async def _use(clients: list[AsyncTestClient[Any]], auth: dict[str, str]) -> None:
    """Each instance verifies the key now, so it holds it in its cache for KEY_CACHE_SECONDS."""
    for client in clients:
        assert (await client.get(READ, headers=auth)).status_code == 200


async def test_two_instances_both_refuse_a_revoked_key_within_a_second(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    tenant, _ = await new_tenant(pool)
    key_id, auth = await new_key(pool, tenant, "read", "leaked laptop")
    _, other_auth = await new_key(pool, tenant, "read")
    async with _instances(database_url, servers, bus) as clients:
        await _use(clients, auth)
        await _use(clients, other_auth)
        await _revoke_with_the_cli(database_url, key_id)
        elapsed = await _all_refuse(clients, auth)
        assert elapsed < KEY_CACHE_SECONDS / 2  # the notification did it, not the cache's expiry
        await _use(clients, other_auth)  # the other key of the tenant still works


async def test_a_lost_listening_session_is_replaced_and_revocation_still_reaches_it(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> None:
    tenant, _ = await new_tenant(pool)
    key_id, auth = await new_key(pool, tenant, "read")
    async with _instances(database_url, servers, bus, count=1) as clients:
        before = await _listener_sessions(pool)
        assert len(before) == 1
        await pool.execute("SELECT pg_terminate_backend($1)", before[0])
        await eventually(
            lambda: _listener_sessions(pool), lambda now: len(now) == 1 and now != before
        )
        await eventually(lambda: _listening(clients[0]), bool)
        await _use(clients, auth)
        await _revoke_with_the_cli(database_url, key_id)
        await _all_refuse(clients, auth)


async def _listener_sessions(pool: asyncpg.Pool) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database()",
        APPLICATION_NAME,
    )
    return [row["pid"] for row in rows]
