"""A projector batch holds back no relay while it reads and plans.

Every relay publishes a log only below the snapshot horizon, the oldest transaction still running
(shared/platform/outbox.py), cluster-wide. A batch that took its transaction id at its start (a
row lock on the states it loads would) would hold every log's rows committed meanwhile until it
commits. It takes its id at its first write, so only its writes hold them.
"""

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from services.mastery.adapters import read_model
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import CalculationPolicy
from shared.platform.bus import BusNames
from tests.support.gradebook import Gradebook, delivered, write_log

PAST_THE_HORIZON = """
SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8 AS passed
"""


async def test_a_transaction_committed_while_a_batch_plans_is_past_the_horizon(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = Gradebook()
    standard = [book.define("s7", "latest")]
    first = [book.attempt("cy", 2, 1, standard="s7")]
    second = [book.attempt("cy", 3, 2, standard="s7")]
    async with pool.acquire() as connection:
        await write_log(connection, book.entries)
    projector = MasteryProjector(pool, BusNames(f"t{uuid.uuid4().hex[:8]}"), CalculationPolicy())
    await projector.handle_gradebook_events(delivered(standard + first))

    # The next batch (loading cy's stored state) pauses after it planned, before it writes.
    planned, may_write = asyncio.Event(), asyncio.Event()
    write_plan = read_model.write_plan

    async def paused_write(connection: Any, plan: Any, *args: Any) -> None:
        planned.set()
        await may_write.wait()
        await write_plan(connection, plan, *args)

    monkeypatch.setattr(read_model, "write_plan", paused_write)
    batch = asyncio.create_task(projector.handle_gradebook_events(delivered(second)))
    try:
        await asyncio.wait_for(planned.wait(), 10)
        async with pool.acquire() as writer, writer.transaction():
            committed = await writer.fetchval("SELECT pg_current_xact_id()")
        assert await pool.fetchval(PAST_THE_HORIZON, committed)
    finally:
        may_write.set()
        await asyncio.wait_for(batch, 10)
    score = await pool.fetchval(
        "SELECT score FROM proficiencies WHERE student_id = 'cy' AND standard_id = 's7'"
    )
    assert score == 3
