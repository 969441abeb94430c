"""The transactional outbox relay: publishes committed outbox rows to JetStream, in order.

Rows are written in the same transaction as the events they announce. A bigserial read as
`position > last` would skip a row whose transaction commits late, so the relay only reads rows of
transactions older than the snapshot horizon (`pg_snapshot_xmin`): every such transaction has
finished, so the set below the horizon can no longer grow, and nothing is skipped. Published rows
are deleted; the event store keeps the history, so any range can be re-published from it.
"""

import asyncio
import logging
from dataclasses import dataclass

import asyncpg
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from shared.platform.bus import BusNames, connect_with_retry, ensure_streams, sleep_unless_stopped
from shared.platform.postgres import DbConnection

logger = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass(frozen=True, slots=True)
class RelaySettings:
    table: str
    nats_url: str
    client_name: str
    bus: BusNames
    batch_size: int = 500
    idle_interval: float = 0.02
    publish_timeout: float = 5.0
    retry_interval: float = 0.5


RELAY_TRANSIENT_ERRORS = (
    TimeoutError,
    OSError,
    nats.errors.Error,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, settings: RelaySettings) -> None:
        self._pool = pool
        self._settings = settings
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        client = await connect_with_retry(self._settings.nats_url, self._settings.client_name, stop)
        if client is None:
            return
        try:
            async with self._pool.acquire() as leader_lock:
                try:
                    if await self._wait_for_leadership(leader_lock, stop):
                        await self._relay_until(stop, client)
                finally:
                    await _give_up_leadership(leader_lock)
        finally:
            await client.drain()

    async def _wait_for_leadership(self, connection: DbConnection, stop: asyncio.Event) -> bool:
        """One relay per outbox publishes at a time, so the bus sees rows in horizon order."""
        while not stop.is_set():
            if await connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", self._settings.table
            ):
                return True
            await sleep_unless_stopped(stop, 1.0)
        return False

    async def _relay_until(self, stop: asyncio.Event, client: NatsClient) -> None:
        js = client.jetstream()
        while not stop.is_set():
            try:
                await ensure_streams(js, self._settings.bus)
                break
            except (TimeoutError, nats.errors.Error) as error:
                logger.warning("cannot declare streams yet (%s)", error)
                await sleep_unless_stopped(stop, self._settings.retry_interval)
        while not stop.is_set():
            try:
                count = await self.relay_once(js)
            except RELAY_TRANSIENT_ERRORS as error:
                logger.warning("outbox %s: relay paused (%s)", self._settings.table, error)
                count, pause = 0, self._settings.retry_interval
            else:
                pause = 0.0 if count == self._settings.batch_size else self._settings.idle_interval
            if pause:
                await sleep_unless_stopped(stop, pause)

    async def relay_once(self, js: JetStreamContext) -> int:
        """Publish one batch below the horizon and delete it; returns how many rows went out."""
        table = self._settings.table
        rows = await self._pool.fetch(
            f"SELECT position, subject, msg_id, payload FROM {table} "  # noqa: S608
            "WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY tx_id, position LIMIT $1",
            self._settings.batch_size,
        )
        if not rows:
            return 0
        await self._publish(js, rows)
        await self._pool.execute(
            f"DELETE FROM {table} WHERE position = ANY($1::bigint[])",  # noqa: S608
            [row["position"] for row in rows],
        )
        self.published += len(rows)
        return len(rows)

    async def _publish(self, js: JetStreamContext, rows: list[asyncpg.Record]) -> None:
        futures = [
            await js.publish_async(
                row["subject"], bytes(row["payload"]), headers={MSG_ID_HEADER: row["msg_id"]}
            )
            for row in rows
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*futures), self._settings.publish_timeout)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


async def _give_up_leadership(connection: DbConnection) -> None:
    """Unlock before the connection goes back to the pool, which does not reset sessions.

    If the unlock cannot run (the connection broke, or shutdown cancelled it), the connection is
    closed instead: a session-level advisory lock ends with its session.
    """
    try:
        await connection.execute("SELECT pg_advisory_unlock_all()")
    except BaseException:
        connection.terminate()
        raise
