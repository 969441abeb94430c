"""Projector instances share the partitions of the attempts through PostgreSQL session locks.

Each instance opens one dedicated connection and, on it, joins as a member: a session advisory
lock in the members class keyed by the connection's backend pid. The live members are the
granted locks of that class in `pg_locks` (every role may read it), so a crashed instance leaves
with its connection, and nothing needs cleaning up. Every `interval` the instance reads the
members, computes the slots it should own (`services.mastery.core.partition_owners`), stops the
consumers of slots no longer its own (the batch in flight settles first) and only then unlocks
them, and starts the consumer of a slot newly its own once it wins that slot's lock
(`pg_try_advisory_lock(slots class, slot)`). So a slot is consumed by at most one instance at a
time, whatever the instances believe about each other in between.

If the lock connection breaks, its locks are gone and another instance may take the slots: the
next look fails, every consumer here stops, and the instance joins again. Until then (under
`interval`) two instances may apply one partition; each batch still takes its order from the
log and locks its student-standards, so that costs a retry, never a wrong read model.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

import asyncpg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from services.mastery.core.partition_owners import owned_slots, slot_name
from shared.platform.errors import is_transient
from shared.platform.postgres import CONNECT_TIMEOUT_SECONDS
from shared.platform.retry import sleep_unless_stopped
from shared.platform.supervisor import LagUnavailable

logger = logging.getLogger(__name__)

PROJECTOR_MEMBERS = 0x4D504D  # the class (first int4 key) of the projector members' locks
PROJECTOR_SLOTS = 0x4D5053  # the class of the partition (slot) locks; the slot is the second
REBALANCE_INTERVAL = 1.0

LIVE_MEMBERS = """
SELECT objid::bigint AS member FROM pg_locks
WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class SlotConsumer(Protocol):
    """What the instances share: one durable consumer's run, lag and counts."""

    processed: int
    deadlettered: int

    @property
    def delivery_limit(self) -> Any: ...

    async def run(self, stop: asyncio.Event) -> None: ...

    async def lag(self) -> dict[str, int]: ...


class _Running:
    def __init__(self, consumer: SlotConsumer) -> None:
        self.consumer = consumer
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(consumer.run(self.stop))


class PartitionOwnership:
    """Runs the consumers of the slots this instance owns (a supervisor's worker)."""

    def __init__(
        self,
        dsn: str,
        partitions: int,
        consumer_of: Callable[[int], SlotConsumer],
        *,
        interval: float = REBALANCE_INTERVAL,
        first_look: float = 0.0,
    ) -> None:
        self._dsn = dsn
        self._partitions = partitions
        self._consumer_of = consumer_of
        self._interval = interval
        # After joining, before taking any slot. 0 in the service: a lone instance starts at
        # once, and instances started together even out within an interval or two. The bench
        # starts its instances' first looks together instead.
        self._first_look = first_look
        self._running: dict[int, _Running] = {}
        self._settled = {"applied": 0, "dead_letters": 0}

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._running)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._as_member(stop)
            except Exception as error:
                if not is_transient(error):
                    raise
                logger.warning(
                    "projector ownership: %s: %s; joining again", type(error).__name__, error
                )
                await sleep_unless_stopped(stop, self._interval)

    async def _as_member(self, stop: asyncio.Event) -> None:
        connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            me = await connection.fetchval("SELECT pg_backend_pid()")
            await connection.execute("SELECT pg_advisory_lock($1, $2)", PROJECTOR_MEMBERS, me)
            await sleep_unless_stopped(stop, self._first_look)
            while not stop.is_set():
                await self._rebalance(connection, me)
                await sleep_unless_stopped(stop, self._interval)
        finally:
            # Stopped before their locks go: no other instance starts a slot still consumed here.
            await self._stop(set(self._running))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_SECONDS)
            if not connection.is_closed():
                connection.terminate()

    async def _rebalance(self, connection: asyncpg.Connection, me: int) -> None:
        self._raise_failed()
        members = [row["member"] for row in await connection.fetch(LIVE_MEMBERS, PROJECTOR_MEMBERS)]
        wanted = owned_slots(self._partitions + 1, members, me)
        leaving = self._running.keys() - wanted
        await self._stop(leaving)
        for slot in sorted(leaving):
            logger.info("projector: gave up partition %s", slot_name(slot, self._partitions))
            await connection.execute("SELECT pg_advisory_unlock($1, $2)", PROJECTOR_SLOTS, slot)
        for slot in sorted(wanted - self._running.keys()):
            if await connection.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", PROJECTOR_SLOTS, slot
            ):
                self._running[slot] = _Running(self._consumer_of(slot))
                logger.info("projector: took partition %s", slot_name(slot, self._partitions))

    def _raise_failed(self) -> None:
        """A consumer that ended by itself failed: the whole worker fails, locks and all, with the
        consumer's own error (the supervisor reports it, and tells a permanent one from a
        transient one by it)."""
        for slot, running in self._running.items():
            if running.task.done():
                name = slot_name(slot, self._partitions)
                error = running.task.exception()
                if error is None:
                    raise RuntimeError(f"the consumer of partition {name} ended by itself")
                error.add_note(f"raised by the consumer of partition {name}")
                raise error

    async def _stop(self, slots: Collection[int]) -> None:
        """Stop these slots' consumers together (each settles its batch in flight; one at a time
        would not fit a worker's stop timeout) and forget them."""
        stopping = [self._running[slot] for slot in slots]
        for running in stopping:
            running.stop.set()
        await asyncio.gather(*(running.task for running in stopping), return_exceptions=True)
        for slot in slots:
            running = self._running.pop(slot)
            self._settled["applied"] += running.consumer.processed
            self._settled["dead_letters"] += _parked(running.consumer)

    def counts(self) -> Mapping[str, int]:
        consumers = [running.consumer for running in self._running.values()]
        return {
            "applied": self._settled["applied"] + sum(c.processed for c in consumers),
            "dead_letters": self._settled["dead_letters"] + sum(map(_parked, consumers)),
        }

    async def lag(self) -> dict[str, int]:
        """The sum over the partitions owned here (0 when none is)."""
        found = await asyncio.gather(
            *(running.consumer.lag() for running in self._running.values()),
            return_exceptions=True,
        )
        lags = [lag for lag in found if isinstance(lag, dict)]
        if found and not lags:
            raise LagUnavailable("projector: no owned partition can say its lag")
        return {"consumer_pending": sum(lag["consumer_pending"] for lag in lags)}

    async def owned_series(self) -> list[Metric]:
        """For /metrics: 1 for each slot this instance consumes, 0 for the others."""
        gauge = GaugeMetricFamily(
            "mastery_projector_partition_owned",
            "1 while this instance consumes the partition of the attempts",
            labels=["partition"],
        )
        for slot in range(self._partitions + 1):
            gauge.add_metric([slot_name(slot, self._partitions)], int(slot in self._running))
        return [gauge]


def _parked(consumer: SlotConsumer) -> int:
    """By the consumer itself, or on JetStream's advisory (`consumer_counts` counts the same)."""
    return consumer.deadlettered + int(consumer.delivery_limit.parked)
