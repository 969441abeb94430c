"""The transactional outbox relay: publishes committed outbox rows to JetStream, in order.

Rows are written in the same transaction as the events they announce. A bigserial read as
`position > last` would skip a row whose transaction commits late, so the relay only reads rows of
transactions older than the snapshot horizon (`pg_snapshot_xmin`): every such transaction has
finished, so the set below the horizon can no longer grow, and nothing is skipped. Published rows
are deleted; the event store keeps the history, so any range can be re-published from it.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck

from shared.contract.cloudevents import CONTENT_TYPE, CONTENT_TYPE_HEADER
from shared.platform.bus import (
    BusNames,
    bus_names,
    close_client,
    connect_with_retry,
    ensure_streams,
)
from shared.platform.bus_users import BusUser
from shared.platform.config import OutboxServiceConfig
from shared.platform.deadletter import park_outbox_row
from shared.platform.errors import is_transient
from shared.platform.postgres import DbConnection
from shared.platform.retry import NotYet, retry_until_stopped, sleep_unless_stopped
from shared.platform.rows import Columns

# A connection borrowed from the pool (asyncpg's generic types exist for type checkers only).
PooledConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

MSG_ID_HEADER = "Nats-Msg-Id"

logger = logging.getLogger(__name__)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of any service's outbox (its position and transaction id are the table's defaults):
    what the relay publishes, `payload` to `subject` with `Nats-Msg-Id` = `msg_id`."""

    tenant_id: str
    subject: str
    msg_id: str
    payload: bytes


OUTBOX_COLUMNS = Columns(OutboxRow)


def outbox_insert(table: str, first_parameter: int = 1) -> str:
    """An INSERT of outbox rows given as one array per column (`OUTBOX_COLUMNS.array_values`),
    from parameter `first_parameter` on; positions follow the rows' order, which the relay keeps.
    A statement on its own, or a CTE of a larger one (the attempts append)."""
    listed = OUTBOX_COLUMNS.listed
    return (
        f"INSERT INTO {table} ({listed}) SELECT {listed} "  # noqa: S608 - names from OutboxRow
        f"FROM unnest({OUTBOX_COLUMNS.arrays(first_parameter)}) "
        f"WITH ORDINALITY AS item ({listed}, n) ORDER BY n"
    )


LEADERSHIP_POLL_INTERVAL = 1.0


@dataclass(frozen=True, slots=True)
class RelaySettings:
    table: str
    nats_url: str
    client_name: str
    bus: BusNames
    # The streams it declares (those it publishes to); None: every stream.
    streams: tuple[str, ...] | None = None
    batch_size: int = 500
    idle_interval: float = 0.02
    publish_timeout: float = 5.0
    retry_interval: float = 0.5
    retry_max_delay: float = 5.0
    # Where a row the bus refuses for good is parked: `deadletter.<parked_as>`.
    parked_as: str = "relay"


class LeadershipLost(Exception):
    """The connection holding the leader lock is gone, and the lock with it."""


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, settings: RelaySettings) -> None:
        self._pool = pool
        self._settings = settings
        self.published = 0
        self.parked = 0

    async def run(self, stop: asyncio.Event) -> None:
        client = await connect_with_retry(self._settings.nats_url, self._settings.client_name, stop)
        if client is None:
            return
        try:
            while not stop.is_set():
                try:
                    await self._lead_and_relay(stop, client)
                except LeadershipLost as lost:
                    logger.warning("outbox %s: %s; leading again", self._settings.table, lost)
        finally:
            # Every publish was acknowledged: nothing to drain, only a connection to close.
            await close_client(client)

    async def _lead_and_relay(self, stop: asyncio.Event, client: NatsClient) -> None:
        """On one pooled connection, hold the leader lock and relay for as long as it lives."""
        table = self._settings.table

        async def connect() -> PooledConnection:
            connection: PooledConnection = await self._pool.acquire()
            return connection

        leader_lock = await retry_until_stopped(
            stop,
            connect,
            what=f"outbox {table}: connecting to PostgreSQL",
            delay=self._settings.retry_interval,
        )
        if leader_lock is None:
            return
        try:
            if await self._wait_for_leadership(leader_lock, stop):
                await self._relay_until(stop, client, leader_lock)
        finally:
            await _give_up_leadership(self._pool, leader_lock)

    async def _wait_for_leadership(self, connection: DbConnection, stop: asyncio.Event) -> bool:
        """One relay per outbox publishes at a time, so the bus sees rows in horizon order."""

        async def lead() -> bool:
            _still_connected(connection)
            if not await connection.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", self._settings.table
            ):
                raise NotYet("another relay publishes this outbox")
            return True

        # A standby asks every second, so it takes over within a second of the leader's end.
        led = await retry_until_stopped(
            stop,
            lead,
            what=f"outbox {self._settings.table}: leading the relay",
            delay=LEADERSHIP_POLL_INTERVAL,
            max_delay=LEADERSHIP_POLL_INTERVAL,
        )
        return bool(led)

    async def _relay_until(
        self, stop: asyncio.Event, client: NatsClient, leader_lock: DbConnection
    ) -> None:
        js = client.jetstream()
        table = self._settings.table
        await retry_until_stopped(
            stop,
            lambda: ensure_streams(js, self._settings.bus, self._settings.streams),
            what=f"outbox {table}: declaring streams",
            delay=self._settings.retry_interval,
        )

        async def relay_as_leader() -> int:
            # A lock lost with its connection (PostgreSQL restarted) may be another relay's now.
            _still_connected(leader_lock)
            return await self.relay_once(js)

        while not stop.is_set():
            count = await retry_until_stopped(
                stop,
                relay_as_leader,
                what=f"outbox {table}: relaying",
                delay=self._settings.retry_interval,
                max_delay=self._settings.retry_max_delay,
            )
            if count is not None and count < self._settings.batch_size:
                await sleep_unless_stopped(stop, self._settings.idle_interval)

    async def lag(self) -> dict[str, int]:
        """Committed rows not yet published."""
        depth = await self._pool.fetchval(
            f"SELECT count(*) FROM {self._settings.table}"  # noqa: S608 - a table name from code
        )
        return {"outbox_depth": int(depth)}

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
        try:
            await self._publish(js, rows)
        except Exception as error:
            if is_transient(error):
                raise
            await self._publish_parking_poison(js, rows)
        await self._pool.execute(
            f"DELETE FROM {table} WHERE position = ANY($1::bigint[])",  # noqa: S608
            [row["position"] for row in rows],
        )
        self.published += len(rows)
        return len(rows)

    async def _publish(self, js: JetStreamContext, rows: list[asyncpg.Record]) -> None:
        messages = [(row["subject"], row["msg_id"], bytes(row["payload"])) for row in rows]
        await publish_all(js, messages, self._settings.publish_timeout)

    async def _publish_parking_poison(
        self, js: JetStreamContext, rows: list[asyncpg.Record]
    ) -> None:
        """The bus refused the batch for good: publish row by row, in order, and park the row it
        refuses (too large for the server, say) on the dead-letter stream with the reason, so one
        row never stops the relay. Its event stays in the service's log, from which `mastery
        republish` can send it again once the cause is fixed."""
        for row in rows:
            try:
                await self._publish(js, [row])
            except Exception as error:
                if is_transient(error):
                    raise
                reason = f"the bus refused it: {type(error).__name__}: {error}"
                logger.exception(
                    "outbox %s: parking row %s (%s): %s",
                    self._settings.table,
                    row["position"],
                    row["msg_id"],
                    reason,
                )
                await park_outbox_row(
                    js,
                    self._settings.bus.deadletter(self._settings.parked_as),
                    subject=row["subject"],
                    msg_id=row["msg_id"],
                    payload=bytes(row["payload"]),
                    reason=reason,
                )
                self.parked += 1


async def publish_all(
    js: JetStreamContext, messages: Sequence[tuple[str, str, bytes]], ack_wait: float
) -> list[PubAck]:
    """Publish (subject, message id, payload) in order with `Nats-Msg-Id` = the message id and
    `Content-Type` = structured CloudEvents JSON (every payload is a whole envelope), and wait
    up to `ack_wait` seconds for every ack (the relay, and `mastery republish`)."""
    futures = [
        await js.publish_async(
            subject, payload, headers={MSG_ID_HEADER: msg_id, CONTENT_TYPE_HEADER: CONTENT_TYPE}
        )
        for subject, msg_id, payload in messages
    ]
    try:
        acks: list[PubAck] = await asyncio.wait_for(asyncio.gather(*futures), ack_wait)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return acks


def outbox_relay(
    config: OutboxServiceConfig,
    pool: asyncpg.Pool,
    *,
    table: str,
    client_name: str,
    user: BusUser,
) -> OutboxRelay:
    """The relay of a service's outbox, as its configuration describes it, declaring the streams
    its NATS user may declare."""
    bus = bus_names(config)
    return OutboxRelay(
        pool,
        RelaySettings(
            table=table,
            nats_url=config.nats_url,
            client_name=client_name,
            bus=bus,
            streams=user.declares(bus),
            parked_as=user.relay_deadletter,
            batch_size=config.relay_batch_size,
            idle_interval=config.relay_idle_interval,
        ),
    )


def _closed(connection: DbConnection) -> bool:
    try:
        return connection.is_closed()
    except asyncpg.InterfaceError:  # a pooled connection that closed is detached from its proxy
        return True


def _still_connected(connection: DbConnection) -> None:
    if _closed(connection):
        raise LeadershipLost("the connection holding the leader lock closed")


async def _give_up_leadership(pool: asyncpg.Pool, connection: PooledConnection) -> None:
    """Unlock before the connection goes back to the pool, which does not reset sessions.

    If the unlock cannot run (the connection broke, or shutdown cancelled it), the connection is
    closed instead: a session-level advisory lock ends with its session. A connection that broke
    is no error here: its lock went with it.
    """
    try:
        if not _closed(connection):
            await connection.execute("SELECT pg_advisory_unlock_all()")
    except Exception as error:
        _terminate(connection)
        if not is_transient(error):
            raise
    except BaseException:
        _terminate(connection)
        raise
    finally:
        await pool.release(connection)


def _terminate(connection: DbConnection) -> None:
    if not _closed(connection):
        connection.terminate()
