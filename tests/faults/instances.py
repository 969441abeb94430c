"""Checks for several instances of each service: who leads each outbox's relay, what the log
holds twice, and harms that fall on one instance while another runs beside it."""

import asyncio
import signal
import subprocess
import time
from collections import defaultdict

import asyncpg
import nats

from services.mastery.adapters.projector import PROJECTOR_NAME
from shared.contract.partitions import DEFAULT_PARTITIONS
from shared.platform.bus import BusNames
from shared.platform.bus_users import partition_durable
from tests.faults.experiments import Fault
from tests.faults.system import FaultSystem, ServiceProcess

# A relay's leader lock is a session-level advisory lock on one bigint key (objsubid 1); the
# projector's per-stream locks take two keys and last a transaction.
LEADERS = """
SELECT activity.application_name FROM pg_locks AS locks
JOIN pg_stat_activity AS activity ON activity.pid = locks.pid
WHERE locks.locktype = 'advisory' AND locks.granted AND locks.objsubid = 1
  AND locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  -- the relays of the attempt and mastery-change logs (a key is hashtext of the log's table)
  AND locks.objid IN (SELECT (hashtext(log)::bigint & 4294967295)::text::oid
                        FROM unnest(ARRAY['attempt_events', 'mastery_changes']) AS log)
"""

ATTEMPTS_TWICE = """
SELECT data::jsonb ->> 'attempt_id' AS attempt_id, count(*) AS copies FROM attempt_log
WHERE tenant_id = $1 AND event_type LIKE 'attempt_recorded.%'
GROUP BY 1 HAVING count(*) > 1
"""


async def relay_leaders(system: FaultSystem) -> dict[str, list[str]]:
    """Service -> the instances whose relay holds its outbox's leader lock right now."""
    connection = await system.connect()
    try:
        rows = await connection.fetch(LEADERS)
    finally:
        await connection.close()
    leaders: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if (process := system.services.get(row["application_name"])) is not None:
            leaders[process.service].append(process.name)
    return dict(leaders)


async def wait_for_leaders(
    system: FaultSystem,
    services: tuple[str, ...],
    *,
    within: float,
    besides: frozenset[str] = frozenset(),
) -> dict[str, list[str]]:
    """Until each service's outbox has exactly one leader, none of them in `besides`."""
    deadline = time.monotonic() + within
    while True:
        leaders = await relay_leaders(system)
        chosen = {service: leaders.get(service, []) for service in services}
        if all(len(names) == 1 and not besides & set(names) for names in chosen.values()):
            return chosen
        if time.monotonic() > deadline:
            raise TimeoutError(f"no single new leader per outbox within {within}s: {leaders}")
        await asyncio.sleep(0.1)


async def attempts_logged_twice(connection: asyncpg.Connection, tenant_id: str) -> list[str]:
    return [row["attempt_id"] for row in await connection.fetch(ATTEMPTS_TWICE, tenant_id)]


class KillRelayLeaders(Fault):
    """kill -9 the instance leading each outbox's relay (attempts, mastery); the other instance
    must take the lead by itself; then the killed ones start again, as standbys."""

    name, title = "kill-relay-leaders", "kill -9 the relay leaders of two instances"
    services = ("attempts", "mastery")

    def __init__(self) -> None:
        self.before: dict[str, list[str]] = {}
        self.after: dict[str, list[str]] = {}
        self.takeover_seconds = 0.0

    async def inject(self, system: FaultSystem) -> None:
        self.before = await wait_for_leaders(system, self.services, within=10)
        killed = frozenset(name for names in self.before.values() for name in names)
        for name in killed:
            system.services[name].kill()
        started = time.monotonic()
        self.after = await wait_for_leaders(system, self.services, within=15, besides=killed)
        self.takeover_seconds = time.monotonic() - started
        for name in killed:
            system.services[name].start()
        await system.wait_until_ready(*killed, within=60)


class TerminateOne(Fault):
    """SIGTERM one instance of a service, as an orchestrator's rolling restart does, wait for it
    to drain and exit by itself, then start it again."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.name = f"sigterm-{instance}"
        self.title = f"SIGTERM {instance} under load, then start it again"
        self.exit_status: int | None = None
        self.drain_seconds = 0.0

    async def inject(self, system: FaultSystem) -> None:
        process = system.services[self.instance]
        started = time.monotonic()
        process.terminate()  # a second time is harmless: uvicorn is already shutting down
        self.exit_status = await wait_for_exit(process, within=30)
        self.drain_seconds = time.monotonic() - started
        process.start()
        await system.wait_until_ready(self.instance, within=60)


async def wait_for_exit(process: ServiceProcess, *, within: float) -> int | None:
    """The process's exit status, or None if it still runs after `within` seconds."""
    if process.process is None:
        return None
    try:
        return await asyncio.to_thread(process.process.wait, within)
    except subprocess.TimeoutExpired:
        return None


TERMINATED = -signal.SIGTERM  # the status of a process that drained and re-raised SIGTERM


WAITING_ON_A_LOCK = """
SELECT activity.application_name FROM pg_locks AS locks
JOIN pg_stat_activity AS activity ON activity.pid = locks.pid
WHERE NOT locks.granted AND activity.application_name = ANY($1::text[])
ORDER BY 1 LIMIT 1
"""


class TerminateMidBatch(TerminateOne):
    """SIGTERM an instance of `service` while its projector holds a batch it cannot commit yet
    (the read model's table is locked for writes), and release the lock a second later, inside
    `WORKER_STOP_TIMEOUT`: the draining projector commits and acks what it holds. A process that
    did not settle it would leave it to come back after the consumers' 30 s ack_wait. The
    instances share the partitions, so the one terminated is the first found waiting."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service
        self.name = f"sigterm-{service}-mid-batch"
        self.title = f"SIGTERM a {service} instance while its projector holds a batch"

    async def inject(self, system: FaultSystem) -> None:
        connection = await system.connect()
        try:
            async with connection.transaction():
                await connection.execute("LOCK TABLE proficiencies IN EXCLUSIVE MODE")
                self.instance = await self._first_waiting(system, connection, within=10)
                system.services[self.instance].terminate()
                await asyncio.sleep(1.0)
        finally:
            await connection.close()
        await super().inject(system)

    async def _first_waiting(
        self, system: FaultSystem, connection: asyncpg.Connection, *, within: float
    ) -> str:
        names = [process.name for process in system.instances_of(self.service)]
        deadline = time.monotonic() + within
        while (waiting := await connection.fetchval(WAITING_ON_A_LOCK, names)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no instance of {names} waited on the locked read model")
            await asyncio.sleep(0.05)
        return str(waiting)


async def projector_unacked(system: FaultSystem) -> int:
    """Messages delivered to the projector's durables (tenant-wide and partitions) and neither
    acked nor naked yet."""
    durables = [PROJECTOR_NAME, *(partition_durable(k) for k in range(DEFAULT_PARTITIONS))]
    client = await nats.connect(system.nats.url, name="instances-check")
    try:
        js = client.jetstream()
        infos = [await js.consumer_info(BusNames().attempts_stream, name) for name in durables]
    finally:
        await client.close()
    return sum(info.num_ack_pending or 0 for info in infos)
