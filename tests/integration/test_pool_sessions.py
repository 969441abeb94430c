"""Pooled connections are released without a reset query; nothing may leak between borrowers."""

from __future__ import annotations

import asyncio

import asyncpg

from services.attempts.adapters.event_store import relayed_log
from shared.platform.bus import BusNames
from shared.platform.outbox import OutboxRelay, RelaySettings
from shared.platform.postgres import create_pool
from tests.support.polling import eventually
from tests.support.servers import Servers


async def _lock_is_free(observer: asyncpg.Connection[asyncpg.Record]) -> bool:
    taken = bool(await observer.fetchval("SELECT pg_try_advisory_lock(hashtext('attempt_events'))"))
    if taken:
        await observer.execute("SELECT pg_advisory_unlock_all()")
    return taken


async def test_a_stopped_relay_returns_its_connection_without_the_leader_lock(
    database_url: str, servers: Servers, bus: BusNames
) -> None:
    # The relay holds one connection for its lock and borrows another for each batch.
    pool = await create_pool(database_url, min_size=2, max_size=2)
    observer = await asyncpg.connect(database_url)
    try:
        relay = OutboxRelay(
            pool,
            RelaySettings(
                log=relayed_log(bus), nats_url=servers.nats_url, client_name="lock-test", bus=bus
            ),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        try:
            await eventually(lambda: _lock_is_free(observer), lambda free: not free)
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
        # The connection that held the lock is back in the pool, without the lock.
        assert pool.get_idle_size() == 2
        assert await _lock_is_free(observer)
    finally:
        await observer.close()
        await pool.close()


async def test_a_transaction_left_open_is_rolled_back_on_release(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        connection = await pool.acquire()
        await connection.execute("BEGIN")
        await connection.execute(
            "INSERT INTO tenants (tenant_id, name) VALUES ('left-open', 'Left open')"
        )
        await pool.release(connection)
        assert (
            await pool.fetchval("SELECT count(*) FROM tenants WHERE tenant_id = 'left-open'") == 0
        )
        assert await pool.fetchval("SELECT pg_current_xact_id_if_assigned() IS NULL")
    finally:
        await pool.close()
