"""Projectors that scale out and keep order: two, then three mastery processes share the
partitions of one ATTEMPTS stream under load; one is killed -9 and the others take its
partitions. No partition lock is ever held by two processes (sampled from pg_locks all along),
every process took a share, and the read model equals a rebuild of the log.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.faults.experiments import run_experiment
from tests.faults.load import LoadPlan
from tests.faults.partitions import SLOTS, JoinThenKill, LockSampler
from tests.faults.system import FaultSystem, log_tail
from tests.support.polling import eventually

pytestmark = pytest.mark.faults

# About 16 s of load: long enough to span the join (a process's start) and the kill.
ATTEMPTS, STUDENTS, RATE = 400, 40, 25.0


@pytest.fixture(scope="module")
async def two_projectors(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FaultSystem]:
    # The school's guardians are set one per student before the load: more than notify's
    # default 50 requests a second allow.
    env = {"RATE_LIMIT_REQUESTS": "1000"}
    system = await FaultSystem.start(tmp_path_factory.mktemp("partitions"), env=env)
    system.add_instance("mastery").start()
    await system.wait_until_ready(within=60)
    yield system
    await system.stop()


async def test_projectors_join_and_crash_without_sharing_a_partition(
    two_projectors: FaultSystem,
) -> None:
    sampler = LockSampler(two_projectors)
    stop_sampling = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop_sampling))
    fault = JoinThenKill()
    plan = LoadPlan(attempts=ATTEMPTS, students=STUDENTS, rate=RATE, seed=7)
    try:
        outcome = await run_experiment(two_projectors, fault, plan, recover_within=60)
    finally:
        stop_sampling.set()
        await sampling
    report = f"{outcome.problems}\n{log_tail(two_projectors.scratch / 'mastery-2.log')}"
    assert outcome.recovered, report
    assert not outcome.problems, report  # among them: the read model differs from a rebuild
    assert outcome.seen.accepted > ATTEMPTS * 0.9, outcome.load
    # Each phase reached: every slot held, shared by the instances alive then.
    assert {n for names in fault.with_two.values() for n in names} == {"mastery", "mastery-2"}
    assert len(fault.with_three) == SLOTS
    assert "mastery-2" not in {n for names in fault.after_kill.values() for n in names}
    assert fault.takeover_seconds < 10, fault.takeover_seconds
    # No slot ever had two holders; every process held one; the sampling covered the run.
    assert sampler.most_holders == 1, sampler.shared_slots
    assert sampler.holders_seen == {"mastery", "mastery-2", "mastery-3"}
    assert sampler.samples > 50
    # Each instance's /metrics says which slots it consumes: together, each slot once.
    owned = await eventually(
        lambda: _owned_in_metrics(two_projectors), lambda found: len(found) == SLOTS, within=10
    )
    assert sorted(owned) == sorted(set(owned)), owned


async def _owned_in_metrics(system: FaultSystem) -> list[str]:
    owned = []
    for process in system.instances_of("mastery"):
        text = (await system.http.get(f"{process.url}/metrics")).text
        owned += [
            line.split('"')[1]
            for line in text.splitlines()
            if line.startswith("mastery_projector_partition_owned{") and line.endswith(" 1.0")
        ]
    return owned
