"""The partitions of one mastery instance apply together what they fetched while a transaction
ran (services/mastery/app.py, shared/platform/group_commit.py): attempts on several partitions
that arrive while the projector waits cost one more transaction, not one each."""

import re
from typing import Any

import asyncpg
import nats

from services.mastery.adapters.projector import TENANT_LOCKS
from shared.contract.partitions import DEFAULT_PARTITIONS, partition_of
from shared.platform.bus import BusNames
from shared.platform.bus_users import partition_durable
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

STANDARD = "math.ratios"


def students_on_distinct_partitions(tenant_id: str, count: int) -> dict[str, int]:
    """`count` students, each on a partition of its own."""
    found: dict[str, int] = {}
    for n in range(1_000):
        partition = partition_of(tenant_id, f"student-{n}", DEFAULT_PARTITIONS)
        if partition not in found.values():
            found[f"student-{n}"] = partition
        if len(found) == count:
            return found
    raise AssertionError("no students on enough partitions")


async def projector_batches(system: System) -> tuple[float, float]:
    """The projector's applied batches and their events so far, from the instance's /metrics."""
    text = (await system.mastery.get("/metrics")).text
    counts = []
    for series in ("count", "sum"):
        pattern = rf'^mastery_batch_size_events_{series}\{{[^}}]*worker="projector"[^}}]*\}} (\S+)$'
        found = re.search(pattern, text, re.MULTILINE)
        counts.append(float(found.group(1)) if found else 0.0)
    return counts[0], counts[1]


async def delivered_unacked(nats_url: str, bus: BusNames, partitions: set[int]) -> int:
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        infos = [
            await js.consumer_info(bus.attempts_stream, partition_durable(partition))
            for partition in partitions
        ]
    finally:
        await client.close()
    return sum(info.num_ack_pending or 0 for info in infos)


def attempt(student: str) -> dict[str, Any]:
    return {
        "attempt_id": f"a-{student}",
        "student_id": student,
        "standard_id": STANDARD,
        "score": 3,
        "points_possible": 4,
        "assessed_at": "2026-10-05T10:00:00Z",
    }


async def test_attempts_fetched_by_several_partitions_meanwhile_are_applied_in_one_transaction(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: Any
) -> None:
    tenant_id, auth = await new_tenant(pool)
    students = students_on_distinct_partitions(tenant_id, 5)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        put = await system.attempts.put(
            f"/v1/standards/{STANDARD}", json={"title": "Ratios"}, headers=auth
        )
        assert put.status_code == 201, put.text
        await eventually(
            lambda: pool.fetchval(
                "SELECT count(*) FROM applied_policy_versions WHERE tenant_id = $1", tenant_id
            ),
            lambda applied: applied >= 1,
        )
        before = await projector_batches(system)
        # The projector waits on the tenant's lock while every partition fetches its attempt.
        async with pool.acquire() as blocker, blocker.transaction():
            await blocker.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", TENANT_LOCKS, tenant_id
            )
            for student in students:
                posted = await system.attempts.post(
                    "/v1/attempts", json=attempt(student), headers=auth
                )
                assert posted.status_code == 201, posted.text
            await eventually(
                lambda: delivered_unacked(servers.nats_url, bus, set(students.values())),
                lambda unacked: unacked == len(students),
            )
        scores = await eventually(
            lambda: pool.fetch(
                "SELECT student_id, score FROM proficiencies WHERE tenant_id = $1", tenant_id
            ),
            lambda rows: len(rows) == len(students),
        )
        assert {row["student_id"]: row["score"] for row in scores} == dict.fromkeys(students, 3)
        after = await projector_batches(system)
    # The first partition's batch was waiting on the lock; the other four came while it waited
    # and were applied together after it.
    assert (after[0] - before[0], after[1] - before[1]) == (2, len(students))
