"""Projector batches note their tenants; one task raises the watermarks, then rests.

The failure this guards against: the read model's watermark, raised after every batch by three
statements and a commit of its own, cost each small partition batch more than its attempts did;
raised by nobody, a read asking for a position far behind would walk ever more of the log.
"""

import asyncio

import asyncpg

from services.mastery.adapters.projector import MasteryProjector
from services.mastery.adapters.watermarks import WatermarkRaiser
from services.mastery.core.calculation import CalculationPolicy
from shared.platform.bus import BusNames
from tests.integration.test_log_order import _delivered
from tests.support.gradebook import TENANT, Gradebook, write_log
from tests.support.polling import eventually


async def _watermark(pool: asyncpg.Pool) -> int:
    found = await pool.fetchval(
        "SELECT log_position FROM read_model_positions WHERE tenant_id = $1", TENANT
    )
    return int(found or 0)


async def test_batches_note_their_tenants_and_one_task_raises_them(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    book = Gradebook()
    entries = [book.attempt(student, 3, day) for day in (1, 2) for student in ("maya", "ben")]
    async with pool.acquire() as connection:
        await write_log(connection, entries)
    newest = await pool.fetchval("SELECT max(global_position) FROM attempt_events")
    raiser = WatermarkRaiser(pool, interval=0.02)
    projector = MasteryProjector(pool, bus, CalculationPolicy(), watermarks=raiser)

    for number, entry in enumerate(entries, start=1):
        await projector.handle_gradebook_events([_delivered(entry, number)])
    # The batches committed and raised nothing themselves: the tenant waits for the task.
    assert await pool.fetchval("SELECT count(*) FROM read_model_positions") == 0
    assert await raiser.lag() == {"watermarks_to_raise": 1}

    stop = asyncio.Event()
    running = asyncio.create_task(raiser.run(stop))
    try:
        # A claim stored by one raise is proved by the next: the watermark reaches the newest
        # event without another batch.
        await eventually(lambda: _watermark(pool), lambda seen: seen == newest)
        await eventually(raiser.lag, lambda lag: lag == {"watermarks_to_raise": 0})
        settled = raiser.raises
        assert settled >= 2
        await asyncio.sleep(0.2)  # ten intervals with nothing noted: it rests
        assert raiser.raises == settled
        # A batch noted later wakes it.
        later = book.attempt("maya", 4, 3)
        async with pool.acquire() as connection:
            await write_log(connection, [later])
        await projector.handle_gradebook_events([_delivered(later, len(entries) + 1)])
        await eventually(lambda: _watermark(pool), lambda seen: seen == newest + 1)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def test_without_a_raiser_each_batch_raises_its_own(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    book = Gradebook()
    entry = book.attempt("maya", 3, 1)
    async with pool.acquire() as connection:
        await write_log(connection, [entry])
    await MasteryProjector(pool, bus, CalculationPolicy()).handle_gradebook_events(
        [_delivered(entry, 1)]
    )
    assert await pool.fetchval("SELECT count(*) FROM read_model_positions") == 1
