"""Checks for projector instances sharing the partitions of the attempts: who holds each slot's
lock (sampled from pg_locks all along), and a fault that adds an instance and kills another."""

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass, field

from services.mastery.adapters.ownership import PROJECTOR_SLOTS
from services.mastery.core.partition_owners import slot_count
from shared.contract.partitions import DEFAULT_PARTITIONS
from tests.faults.experiments import Fault
from tests.faults.system import FaultSystem

SLOTS = slot_count(DEFAULT_PARTITIONS)
SAMPLE_EVERY = 0.05

# A slot lock is a session advisory lock on two int4 keys (objsubid 2): the class, the slot.
SLOT_HOLDERS = """
SELECT locks.objid::bigint AS slot, activity.application_name AS holder
FROM pg_locks AS locks JOIN pg_stat_activity AS activity ON activity.pid = locks.pid
WHERE locks.locktype = 'advisory' AND locks.granted AND locks.objsubid = 2
  AND locks.classid::bigint = $1
  AND locks.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


async def slot_holders(system: FaultSystem) -> dict[int, list[str]]:
    """Slot -> the processes holding its lock right now."""
    connection = await system.connect()
    try:
        rows = await connection.fetch(SLOT_HOLDERS, PROJECTOR_SLOTS)
    finally:
        await connection.close()
    holders: dict[int, list[str]] = defaultdict(list)
    for row in rows:
        holders[row["slot"]].append(row["holder"])
    return dict(holders)


async def wait_for_owners(
    system: FaultSystem, instances: set[str], *, within: float
) -> dict[int, list[str]]:
    """Until every slot is held, each by one of `instances`, and each of them holds one."""
    deadline = time.monotonic() + within
    while True:
        holders = await slot_holders(system)
        owners = {name for names in holders.values() for name in names}
        if len(holders) == SLOTS and owners == instances:
            return holders
        if time.monotonic() > deadline:
            raise TimeoutError(f"slots not shared by {sorted(instances)} in {within}s: {holders}")
        await asyncio.sleep(0.1)


@dataclass
class LockSampler:
    """pg_locks every `SAMPLE_EVERY` seconds while it runs: the most holders any slot had at
    once, and every process seen holding a slot."""

    system: FaultSystem
    samples: int = 0
    most_holders: int = 0
    holders_seen: set[str] = field(default_factory=set)
    shared_slots: list[dict[int, list[str]]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                holders = await slot_holders(self.system)
                self.samples += 1
                self.most_holders = max([self.most_holders, *map(len, holders.values())])
                self.holders_seen.update(name for names in holders.values() for name in names)
                if any(len(names) > 1 for names in holders.values()):
                    self.shared_slots.append(holders)
            await asyncio.sleep(SAMPLE_EVERY)


class JoinThenKill(Fault):
    """Under load, with two mastery instances sharing the slots: a third joins and takes its
    share; then one of the first two is killed -9 and the others take its slots by themselves;
    then it starts again and takes a share again."""

    name, title = "projectors-join-and-crash", "a third projector joins, then one is killed -9"

    def __init__(self) -> None:
        self.with_two: dict[int, list[str]] = {}
        self.with_three: dict[int, list[str]] = {}
        self.after_kill: dict[int, list[str]] = {}
        self.rejoined: dict[int, list[str]] = {}
        self.takeover_seconds = 0.0

    async def inject(self, system: FaultSystem) -> None:
        first, second = "mastery", "mastery-2"
        self.with_two = await wait_for_owners(system, {first, second}, within=15)
        third = system.add_instance("mastery")
        third.start()
        await system.wait_until_ready(third.name, within=60)
        every = {first, second, third.name}
        self.with_three = await wait_for_owners(system, every, within=15)
        system.services[second].kill()
        started = time.monotonic()
        self.after_kill = await wait_for_owners(system, every - {second}, within=15)
        self.takeover_seconds = time.monotonic() - started
        system.services[second].start()
        await system.wait_until_ready(second, within=60)
        self.rejoined = await wait_for_owners(system, every, within=15)
