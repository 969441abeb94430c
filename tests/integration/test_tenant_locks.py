"""A policy recompute and an attempt batch of the same tenant in different partitions: the
attempt batch that read the old policy must commit before the recompute looks for the
student-standards to recompute, or the new student-standard it creates keeps the old policy's
result for good. The per-tenant lock (shared for attempts, exclusive for policies) orders them.
"""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from services.mastery.adapters import read_model
from services.mastery.adapters.projector import TENANT_LOCKS, MasteryProjector
from services.mastery.core.calculation import CalculationPolicy
from shared.platform.bus import BusNames
from shared.platform.errors import WaitingForAnother, is_transient
from tests.support.gradebook import TENANT, Gradebook, delivered, write_log
from tests.support.polling import eventually

WAITING_ON_TENANT_LOCK = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND NOT granted AND classid::bigint = $1
"""


async def test_a_policy_recompute_waits_for_an_attempt_batch_that_read_the_old_policy(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = Gradebook()
    setup = [book.tenant_default("average"), book.define("s1", None)]
    attempts = [book.attempt("ana", 2, 1, standard="s1"), book.attempt("ana", 4, 2, standard="s1")]
    async with pool.acquire() as connection:
        await write_log(connection, book.entries)
    bus = BusNames(f"t{uuid.uuid4().hex[:8]}")
    # The tenant-wide durable's projector, and a partition's (which waits for the definitions
    # the log holds before it plans: the policy below is logged only once it planned).
    projector = MasteryProjector(pool, bus, CalculationPolicy())
    partition = MasteryProjector(pool, bus, CalculationPolicy(), partitioned=True)
    await projector.handle_gradebook_events(delivered(setup))

    # The attempt batch pauses after it planned under the old policy, before it writes.
    planned, may_write = asyncio.Event(), asyncio.Event()
    write_plan = read_model.write_plan

    async def paused_write(connection: Any, plan: Any, *args: Any) -> None:
        if any(state.key.student_id == "ana" for state in plan.states) and not may_write.is_set():
            planned.set()
            await may_write.wait()
        await write_plan(connection, plan, *args)

    monkeypatch.setattr(read_model, "write_plan", paused_write)
    attempt_batch = asyncio.create_task(partition.handle_gradebook_events(delivered(attempts)))
    await asyncio.wait_for(planned.wait(), 10)
    policy = [book.tenant_default("latest")]
    async with pool.acquire() as connection:
        await write_log(connection, policy)
    policy_batch = asyncio.create_task(projector.handle_gradebook_events(delivered(policy)))
    try:
        # The recompute waits on the tenant's lock while the attempt batch holds it...
        await eventually(
            lambda: pool.fetchval(WAITING_ON_TENANT_LOCK, TENANT_LOCKS), lambda n: n == 1
        )
        assert not policy_batch.done()
    finally:
        may_write.set()
        await asyncio.wait_for(asyncio.gather(attempt_batch, policy_batch), 10)

    # ...and then finds ana's new student-standard and recomputes it: latest (4), not average (3).
    score = await pool.fetchval(
        "SELECT score FROM proficiencies WHERE tenant_id = $1 AND student_id = 'ana'", TENANT
    )
    assert score == 4


async def test_a_partition_waits_for_the_standard_its_attempt_was_recorded_against(
    pool: asyncpg.Pool,
) -> None:
    """Standards travel on the tenant-wide durable: a partition that sees an attempt first waits
    (in order, spending no delivery) until the standard the log holds is applied."""
    book = Gradebook()
    standard = [book.define("s2", "latest", title="Ratios")]
    attempt = [book.attempt("ben", 3, 1, standard="s2")]
    async with pool.acquire() as connection:
        await write_log(connection, book.entries)
    bus = BusNames(f"t{uuid.uuid4().hex[:8]}")
    partition = MasteryProjector(pool, bus, CalculationPolicy(), partitioned=True)
    with pytest.raises(WaitingForAnother, match="//standards/s2"):
        await partition.handle_gradebook_events(delivered(attempt))
    assert is_transient(WaitingForAnother())  # the consumer retries the batch, keeping it
    await MasteryProjector(pool, bus, CalculationPolicy()).handle_gradebook_events(
        delivered(standard)
    )
    await partition.handle_gradebook_events(delivered(attempt))
    title = await pool.fetchval(
        "SELECT convert_from(payload, 'UTF8')::jsonb -> 'data' ->> 'standard_title' "
        "FROM mastery_changes WHERE tenant_id = $1",
        TENANT,
    )
    assert title == "Ratios"
