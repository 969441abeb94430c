"""The relay: publishes a service's own append-only log to JetStream, in order. The log is the
outbox: one row per event, nothing inserted beside it, nothing updated or deleted after.

Each row carries its transaction's id (`tx_id`). A bigserial read as `position > last` would skip
a row whose transaction commits late, so the relay reads in (tx_id, position) order and only rows
of transactions older than the snapshot horizon (`pg_snapshot_xmin`): every such transaction has
finished, so the set below the horizon can no longer grow, and a row that commits later has a
tx_id at or above it, after every row published. The relay keeps how far it got, (tx_id,
position), in the log's one-row table `<log>_relayed`, written after JetStream acknowledged the
batch (a crash in between publishes the batch again: the message ids make JetStream drop it).

While rows come it polls every `idle_interval`. After `LINGER_LOOKS` empty looks it marks itself
asleep (`relay_asleep`), looks `GRACE_LOOKS` more times (a writer that read the mark just before
it changed commits unannounced), then sleeps until the log's `NOTIFY <log>` or `poll_interval`.
A trigger sends that notification from each appending transaction, but only while the relay is
marked asleep: a notifying transaction holds a database-wide lock from its commit to its end, so
notifying writers commit one at a time. The first rows found wake it (the mark is cleared).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import PubAck

from shared.contract.cloudevents import CONTENT_TYPE, CONTENT_TYPE_HEADER
from shared.platform.atomic_batch import MAX_BATCH, Outcome, publish_atomically
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
from shared.platform.wake import closed

# A connection borrowed from the pool (asyncpg's generic types exist for type checkers only).
PooledConnection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

MSG_ID_HEADER = "Nats-Msg-Id"
T = TypeVar("T")

logger = logging.getLogger(__name__)


class OutboxRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row of any service's outbox (its position and transaction id are the table's defaults):
    what the relay publishes, `payload` to `subject` with `Nats-Msg-Id` = `msg_id`."""

    tenant_id: str
    subject: str
    msg_id: str
    payload: bytes


OUTBOX_COLUMNS = Columns(OutboxRow)


@dataclass(frozen=True, slots=True)
class RelayedLog:
    """An append-only log the relay publishes: its table (with `tx_id`), its position column,
    the columns `messages` reads, and how rows (in order) become the messages."""

    table: str
    position: str
    columns: str
    messages: Callable[[Sequence[asyncpg.Record]], list[OutboxRow]]

    @property
    def relayed(self) -> str:
        return f"{self.table}_relayed"


def outbox_log(table: str) -> RelayedLog:
    """A log whose rows hold their message as published (`OutboxRow`'s columns)."""
    return RelayedLog(
        table=table, position="position", columns=OUTBOX_COLUMNS.listed, messages=stored_messages
    )


def stored_messages(rows: Sequence[asyncpg.Record]) -> list[OutboxRow]:
    return [
        OutboxRow(
            tenant_id=row["tenant_id"],
            subject=row["subject"],
            msg_id=row["msg_id"],
            payload=bytes(row["payload"]),
        )
        for row in rows
    ]


LEADERSHIP_POLL_INTERVAL = 1.0
# The leader lock; and the log is read on the leader's connection, planned for each read: a plan
# cached while the log was small (a new database) goes on scanning the whole log once it has
# grown, and the statistics that would replace it lag a burst by up to a minute. The pool hands
# the connection on reset (asyncpg's RESET ALL).
_LEAD = (
    "SELECT pg_try_advisory_lock(hashtext($1)) "
    "FROM set_config('plan_cache_mode', 'force_custom_plan', false)"
)
LINGER_LOOKS = 10
GRACE_LOOKS = 5


@dataclass(frozen=True, slots=True)
class RelaySettings:
    log: RelayedLog
    nats_url: str
    client_name: str
    bus: BusNames
    # The streams it declares (those it publishes to); None: every stream.
    streams: tuple[str, ...] | None = None
    batch_size: int = 500
    # How soon it looks again while a committed row waits behind the horizon.
    idle_interval: float = 0.02
    # How long it sleeps without a notification before it looks anyway.
    poll_interval: float = 1.0
    publish_timeout: float = 5.0
    retry_interval: float = 0.5
    retry_max_delay: float = 5.0
    # Where a row the bus refuses for good is parked: `deadletter.<parked_as>`.
    parked_as: str = "relay"


class LeadershipLost(Exception):
    """The connection holding the leader lock is gone, and the lock with it."""


class _Batch(msgspec.Struct, frozen=True):
    rows: list[asyncpg.Record]
    # A committed row waits behind the horizon (an older transaction is still open).
    held_back: bool


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, settings: RelaySettings) -> None:
        self._pool = pool
        self._settings = settings
        self._log = settings.log
        self._read = _read_batch(settings.log)
        self._cursor: tuple[int, int] | None = None  # (tx_id, position) published up to
        self._held_back = False
        self._woken = asyncio.Event()
        self.asleep = False  # as this relay last marked it
        self.published = 0
        self.parked = 0
        # Batches stored as one (one fsync with `sync_interval: always`) while the bus takes
        # them; message by message after it said it does not.
        self.atomic = True
        self.atomic_batches = 0

    async def run(self, stop: asyncio.Event) -> None:
        client = await connect_with_retry(self._settings.nats_url, self._settings.client_name, stop)
        if client is None:
            return
        try:
            while not stop.is_set():
                try:
                    await self._lead_and_relay(stop, client)
                except LeadershipLost as lost:
                    logger.warning("relay of %s: %s; leading again", self._log.table, lost)
        finally:
            # Every publish was acknowledged: nothing to drain, only a connection to close.
            await close_client(client)

    async def _lead_and_relay(self, stop: asyncio.Event, client: NatsClient) -> None:
        """On one pooled connection, hold the leader lock and relay for as long as it lives."""
        table = self._log.table

        async def connect() -> PooledConnection:
            connection: PooledConnection = await self._pool.acquire()
            return connection

        leader_lock = await retry_until_stopped(
            stop,
            connect,
            what=f"relay of {table}: connecting to PostgreSQL",
            delay=self._settings.retry_interval,
        )
        if leader_lock is None:
            return
        try:
            if await self._wait_for_leadership(leader_lock, stop):
                self._cursor = None  # another relay may have moved it
                await leader_lock.add_listener(table, self.wake)
                try:
                    await self._relay_until(stop, client, leader_lock)
                finally:
                    await _stop_listening(leader_lock, self)
        finally:
            await _give_up_leadership(self._pool, leader_lock)

    @property
    def log(self) -> RelayedLog:
        return self._log

    def wake(self, _connection: object, _pid: int, _channel: str, _payload: object) -> None:
        """The LISTEN callback: a transaction appended to the log."""
        self._woken.set()

    async def _wait_for_leadership(self, connection: DbConnection, stop: asyncio.Event) -> bool:
        """One relay per log publishes at a time, so the bus sees rows in horizon order."""

        async def lead() -> bool:
            _still_connected(connection)
            if not await connection.fetchval(_LEAD, self._log.table):
                raise NotYet("another relay publishes this log")
            return True

        # A standby asks every second, so it takes over within a second of the leader's end.
        led = await retry_until_stopped(
            stop,
            lead,
            what=f"relay of {self._log.table}: leading the relay",
            delay=LEADERSHIP_POLL_INTERVAL,
            max_delay=LEADERSHIP_POLL_INTERVAL,
        )
        return bool(led)

    async def _relay_until(
        self, stop: asyncio.Event, client: NatsClient, leader_lock: DbConnection
    ) -> None:
        js = client.jetstream()
        table = self._log.table
        await retry_until_stopped(
            stop,
            lambda: ensure_streams(js, self._settings.bus, self._settings.streams),
            what=f"relay of {table}: declaring streams",
            delay=self._settings.retry_interval,
        )

        async def relay_as_leader() -> int:
            # A lock lost with its connection (PostgreSQL restarted) may be another relay's now.
            _still_connected(leader_lock)
            self._woken.clear()  # a notification from here on wakes the next wait
            return await self.relay_once(js, reading_on=leader_lock, client=client)

        # Awake until it finds nothing (a mark left by a relay before it would have writers notify).
        await self._retried(stop, lambda: self._mark_asleep(False), "waking")
        empty_looks = 0
        while not stop.is_set():
            count = await self._retried(stop, relay_as_leader, "relaying")
            if count is None:
                continue
            if count or self._held_back:
                empty_looks = 0
                if self.asleep:
                    await self._retried(stop, lambda: self._mark_asleep(False), "waking")
                if count < self._settings.batch_size:
                    await sleep_unless_stopped(stop, self._settings.idle_interval)
                continue
            empty_looks += 1
            if empty_looks == LINGER_LOOKS:
                await self._retried(stop, lambda: self._mark_asleep(True), "falling asleep")
            if empty_looks < LINGER_LOOKS + GRACE_LOOKS:
                await sleep_unless_stopped(stop, self._settings.idle_interval)
            else:
                await self._sleep_until_woken(stop)

    async def _retried(
        self, stop: asyncio.Event, work: Callable[[], Awaitable[T]], what: str
    ) -> T | None:
        return await retry_until_stopped(
            stop,
            work,
            what=f"relay of {self._log.table}: {what}",
            delay=self._settings.retry_interval,
            max_delay=self._settings.retry_max_delay,
        )

    async def _mark_asleep(self, asleep: bool) -> None:
        """Ask the log's writers to notify (asleep) or not (awake, polling)."""
        await self._pool.execute(
            f"UPDATE {self._log.relayed} SET relay_asleep = $1",  # noqa: S608 - from code
            asleep,
        )
        self.asleep = asleep

    async def _sleep_until_woken(self, stop: asyncio.Event) -> None:
        stopped = asyncio.ensure_future(stop.wait())
        woken = asyncio.ensure_future(self._woken.wait())
        try:
            await asyncio.wait(
                (stopped, woken),
                timeout=self._settings.poll_interval,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopped.cancel()
            woken.cancel()

    async def lag(self) -> dict[str, int]:
        """Committed rows not yet published."""
        log = self._log
        # Two scalar sub-selects: parameters of the index scan, not a join.
        depth = await self._pool.fetchval(
            f"SELECT count(*) FROM {log.table} WHERE (tx_id, {log.position}) > "  # noqa: S608
            f"((SELECT tx_id FROM {log.relayed}), (SELECT position FROM {log.relayed}))"
        )
        return {"outbox_depth": int(depth)}

    async def relay_once(
        self,
        js: JetStreamContext,
        reading_on: "DbConnection | None" = None,
        client: NatsClient | None = None,
    ) -> int:
        """Publish the next batch below the horizon and move the relay's position past it;
        returns how many rows went out. The log is read on `reading_on` (else the pool); with
        `client`, a batch goes out as one atomic batch where the bus takes them."""
        if self._cursor is None:
            self._cursor = await self._read_cursor()
        batch = await self._next_batch(self._cursor, reading_on or self._pool)
        self._held_back = batch.held_back
        rows = batch.rows
        if not rows:
            return 0
        messages = self._log.messages(rows)
        try:
            if not await self._published_atomically(client, messages):
                await self._publish(js, messages)
        except Exception as error:
            if is_transient(error):
                raise
            await self._publish_parking_poison(js, messages)
        last = (rows[-1]["tx_id"], rows[-1]["position"])
        await self._pool.execute(
            f"UPDATE {self._log.relayed} SET tx_id = $1::xid8, position = $2",  # noqa: S608
            *last,
        )
        self._cursor = last
        self.published += len(rows)
        return len(rows)

    async def _read_cursor(self) -> tuple[int, int]:
        row = await self._pool.fetchrow(
            f"SELECT tx_id, position FROM {self._log.relayed}"  # noqa: S608 - from code
        )
        assert row is not None, f"{self._log.relayed} has its one row from its migration"
        return (row["tx_id"], row["position"])

    async def _next_batch(
        self, cursor: tuple[int, int], reading_on: "DbConnection | asyncpg.Pool"
    ) -> _Batch:
        """The committed rows after `cursor` in horizon order, up to the first of a transaction
        the horizon has not passed (its rows, and those after, wait)."""
        rows = await reading_on.fetch(self._read, *cursor, self._settings.batch_size)
        for index, row in enumerate(rows):
            if not row["settled"]:
                return _Batch(rows[:index], held_back=True)
        return _Batch(rows, held_back=False)

    async def _published_atomically(
        self, client: NatsClient | None, messages: Sequence[OutboxRow]
    ) -> bool:
        """Whether the batch was stored as one (`shared/platform/atomic_batch.py`). If it was
        refused (one of its messages is on the bus already), or the bus takes no atomic batches,
        it goes out message by message: JetStream drops by message id what it holds."""
        if client is None or not self.atomic or not 2 <= len(messages) <= MAX_BATCH:
            return False
        items = [(message.subject, message.msg_id, message.payload) for message in messages]
        published = await publish_atomically(client, items, self._settings.publish_timeout)
        if published.outcome is Outcome.STORED:
            self.atomic_batches += 1
            return True
        table = self._log.table
        if published.outcome is Outcome.UNSUPPORTED:
            self.atomic = False
            logger.warning(
                "relay of %s: the bus takes no atomic batches (%s); publishing message by "
                "message from now on", table, published.reason,
            )  # fmt: skip
        else:
            logger.info(
                "relay of %s: a batch was refused as one (%s); publishing it message by message",
                table, published.reason,
            )  # fmt: skip
        return False

    async def _publish(self, js: JetStreamContext, messages: Sequence[OutboxRow]) -> None:
        await publish_all(
            js,
            [(message.subject, message.msg_id, message.payload) for message in messages],
            self._settings.publish_timeout,
        )

    async def _publish_parking_poison(
        self, js: JetStreamContext, messages: Sequence[OutboxRow]
    ) -> None:
        """The bus refused the batch for good: publish message by message, in order, and park
        the one it refuses (too large for the server, say) on the dead-letter stream with the
        reason, so one row never stops the relay. Its event stays in the service's log, from
        which `mastery republish` can send it again once the cause is fixed."""
        for message in messages:
            try:
                await self._publish(js, [message])
            except Exception as error:
                if is_transient(error):
                    raise
                reason = f"the bus refused it: {type(error).__name__}: {error}"
                logger.exception(
                    "relay of %s: parking %s: %s", self._log.table, message.msg_id, reason
                )
                await park_outbox_row(
                    js,
                    self._settings.bus.deadletter(self._settings.parked_as),
                    subject=message.subject,
                    msg_id=message.msg_id,
                    payload=message.payload,
                    reason=reason,
                )
                self.parked += 1


def _read_batch(log: RelayedLog) -> str:
    """The rows after ($1 tx_id, $2 position) in horizon order, at most $3, each saying whether
    its transaction is below the horizon (`settled`). Rows of transactions still open are not
    visible; rows of ones that committed while an older one is open are, and are not settled."""
    return (
        f"SELECT tx_id, {log.position} AS position, "  # noqa: S608 - from code
        f"tx_id < pg_snapshot_xmin(pg_current_snapshot()) AS settled, {log.columns} "
        f"FROM {log.table} WHERE (tx_id, {log.position}) > ($1::xid8, $2) "
        f"ORDER BY tx_id, {log.position} LIMIT $3"
    )


async def _stop_listening(connection: DbConnection, relay: "OutboxRelay") -> None:
    """UNLISTEN before the connection goes back to the pool, which does not reset sessions; a
    connection that broke took its LISTEN with it."""
    if closed(connection):
        return
    try:
        await connection.remove_listener(relay.log.table, relay.wake)
    except Exception as error:
        if not is_transient(error):
            raise


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
    log: RelayedLog,
    client_name: str,
    user: BusUser,
) -> OutboxRelay:
    """The relay of a service's log, as its configuration describes it, declaring the streams
    its NATS user may declare."""
    bus = bus_names(config)
    return OutboxRelay(
        pool,
        RelaySettings(
            log=log,
            nats_url=config.nats_url,
            client_name=client_name,
            bus=bus,
            streams=user.declares(bus),
            parked_as=user.relay_deadletter,
            batch_size=config.relay_batch_size,
            idle_interval=config.relay_idle_interval,
            poll_interval=config.relay_poll_interval,
        ),
    )


def _still_connected(connection: DbConnection) -> None:
    if closed(connection):
        raise LeadershipLost("the connection holding the leader lock closed")


async def _give_up_leadership(pool: asyncpg.Pool, connection: PooledConnection) -> None:
    """Unlock before the connection goes back to the pool, which does not reset sessions.

    If the unlock cannot run (the connection broke, or shutdown cancelled it), the connection is
    closed instead: a session-level advisory lock ends with its session. A connection that broke
    is no error here: its lock went with it.
    """
    try:
        if not closed(connection):
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
    if not closed(connection):
        connection.terminate()
