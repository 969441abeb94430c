"""The fault experiments, shared by the suite (tests/faults) and `scripts/chaos.sh`.

Each experiment opens a school of its own, puts a steady load of attempts on the attempts API and,
while it runs, does one kind of harm to one part of the system. Then nothing more is done by hand:
the invariants (tests/faults/invariants.py) must come to hold, and every service be ready, within
a deadline ("recovers by itself").
"""

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import nats
from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import FetchTimeoutError

from shared.platform.bus import BusNames
from tests.faults.invariants import Mailbox, Observation, observe
from tests.faults.load import LoadPlan, LoadResult, School, open_school, run_load
from tests.faults.system import FaultSystem

LEAD = 1.0  # seconds of load before the first harm
PAUSE = 1.0  # seconds between two harms, and of a server's absence


class Fault:
    """One kind of harm: `inject` runs beside the load; `release` after the checks."""

    name = ""
    title = ""

    async def inject(self, system: FaultSystem) -> None:
        raise NotImplementedError

    async def release(self) -> None:
        return None


class NoFault(Fault):
    name, title = "baseline", "no fault"

    async def inject(self, system: FaultSystem) -> None:
        return None


class KillService(Fault):
    def __init__(self, service: str, times: int = 2) -> None:
        self.service, self.times = service, times
        self.name = f"kill-{service}"
        self.title = f"kill -9 {service} and restart (x{times})"

    async def inject(self, system: FaultSystem) -> None:
        for _ in range(self.times):
            await asyncio.sleep(PAUSE)
            await system.kill_and_restart(self.service)


class RestartPostgres(Fault):
    name, title = "postgres-restart", "PostgreSQL restart -m immediate"

    async def inject(self, system: FaultSystem) -> None:
        await system.restart_postgres_immediately()


class KillNats(Fault):
    name, title = "nats-kill", "nats-server kill -9, restart"

    async def inject(self, system: FaultSystem) -> None:
        await system.kill_nats()
        await asyncio.sleep(PAUSE)
        await system.start_nats()


class SmtpDown(Fault):
    name, title = "smtp-down", "SMTP sink down for a while"

    def __init__(self, seconds: float = 4.0) -> None:
        self.seconds = seconds

    async def inject(self, system: FaultSystem) -> None:
        await asyncio.to_thread(system.stop_smtp)
        await asyncio.sleep(self.seconds)
        await asyncio.to_thread(system.start_smtp)


class StrayConsumer(Fault):
    """Another client with its own durable on the projector's stream, fetching and never acking
    (until it goes away after the checks)."""

    name, title = "stray-consumer", "a consumer that fetches and never acks"

    def __init__(self) -> None:
        self.client: NatsClient | None = None
        self.fetched = 0

    async def inject(self, system: FaultSystem) -> None:
        self.client = await nats.connect(system.nats.url, name="stray")
        js = self.client.jetstream()
        durable = f"stray-{uuid.uuid4().hex[:6]}"
        config = ConsumerConfig(durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=5)
        subscription = await js.pull_subscribe(
            BusNames().all_attempts(), durable=durable, config=config
        )
        for _ in range(10):
            with contextlib.suppress(FetchTimeoutError, TimeoutError):
                self.fetched += len(await subscription.fetch(50, timeout=0.5))
            await asyncio.sleep(PAUSE / 2)

    async def release(self) -> None:
        if self.client is not None:
            await self.client.close()


def all_faults() -> list[Fault]:
    """In the order they run: the least harmful first."""
    return [
        StrayConsumer(),
        SmtpDown(),
        KillService("notify"),
        KillService("mastery"),
        KillService("attempts"),
        KillNats(),
        RestartPostgres(),
    ]


@dataclass
class Outcome:
    fault: Fault
    school: School
    load: LoadResult
    seen: Observation
    recovered: bool
    seconds_to_recover: float
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [*self.notes, *self.seen.problems]


async def run_experiment(
    system: FaultSystem, fault: Fault, plan: LoadPlan, *, recover_within: float
) -> Outcome:
    notes = []
    if replaced := await system.replace_exited(within=60):
        notes.append(f"before it: started again {replaced}, which had exited")
    school = await open_school(system, fault.name, plan.students)
    load_task = asyncio.create_task(run_load(system, school, plan))
    await asyncio.sleep(LEAD)
    try:
        await fault.inject(system)
    except Exception as error:  # the experiment reports it; the checks still run
        notes.append(f"the fault itself failed: {error!r}")
    load = await load_task
    started = time.monotonic()
    try:
        seen, recovered = await recovery(system, school, load.accepted, within=recover_within)
    finally:
        await fault.release()
    notes += _load_notes(load)
    seconds = time.monotonic() - started
    return Outcome(fault, school, load, seen, recovered, seconds, notes)


def _load_notes(load: LoadResult) -> list[str]:
    notes = []
    if load.refused:
        notes.append(f"attempts refused: {sorted(load.refused.items())[:3]}")
    if load.unanswered:
        notes.append(f"attempts never accepted within the load's time: {len(load.unanswered)}")
    return notes


async def recovery(
    system: FaultSystem, school: School, accepted: set[str], *, within: float
) -> tuple[Observation, bool]:
    """Observe until every invariant holds and every service is ready, or the deadline passes."""
    mailbox = Mailbox(system.mail_dir)
    deadline = time.monotonic() + within
    while True:
        seen = await _observe_once(system, mailbox, school, accepted)
        if seen.holds:
            return seen, True
        if time.monotonic() > deadline:
            return seen, False
        await asyncio.sleep(0.5)


async def _observe_once(
    system: FaultSystem, mailbox: Mailbox, school: School, accepted: set[str]
) -> Observation:
    not_ready = [name for name in system.services if not await system.ready(name)]
    try:
        connection = await system.connect()
    except (OSError, asyncpg.PostgresError) as error:
        return Observation(accepted=len(accepted), problems=[f"PostgreSQL: {error!r}"])
    try:
        seen = await observe(connection, mailbox, school, accepted)
    finally:
        await connection.close()
    if not_ready:
        exited = system.exited()
        seen.problems.append(f"not ready: {not_ready}" + (f", exited: {exited}" if exited else ""))
    return seen
