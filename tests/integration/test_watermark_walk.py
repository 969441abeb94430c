"""A look walks the log past the watermark in steps, and stops at the first event not applied.

The failure this guards against: under a backlog every look walked its whole limit (1,000
events, each checked against its stream's state) although the first event not yet applied ends
what a look can use; the watermark task's walks were then the largest share of PostgreSQL's time
while a burst drained.
"""

import asyncio

import asyncpg
import pytest

from services.mastery.adapters import positions
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import CalculationPolicy
from shared.platform.bus import BusNames
from tests.support.gradebook import TENANT, Gradebook, delivered, write_log

STRETCH = 150  # applied events before the first one not applied: more than the first step


class Statements:
    def __init__(self) -> None:
        self.logged: list[tuple[str, tuple[object, ...]]] = []

    def __call__(self, logged: object) -> None:
        self.logged.append((str(getattr(logged, "query", "")), tuple(getattr(logged, "args", ()))))

    async def walks(self) -> list[tuple[object, ...]]:
        """The arguments of the walks logged so far (asyncpg calls its loggers soon after each
        query)."""
        await asyncio.sleep(0.01)
        return [args for text, args in self.logged if "CROSS JOIN LATERAL" in text]


async def _log_with_a_gap(pool: asyncpg.Pool, bus: BusNames) -> list[int]:
    """STRETCH applied events, one not applied, one more applied; their positions."""
    book = Gradebook()
    entries = [book.attempt(f"student-{n}", 3, 1) for n in range(STRETCH + 2)]
    async with pool.acquire() as connection:
        await write_log(connection, entries)
    projector = MasteryProjector(pool, bus, CalculationPolicy())
    applied = entries[:STRETCH] + entries[STRETCH + 1 :]
    await projector.handle_gradebook_events(delivered(applied))
    rows = await pool.fetch(
        "SELECT global_position FROM attempt_events WHERE tenant_id = $1 ORDER BY global_position",
        TENANT,
    )
    return [row[0] for row in rows]


async def test_a_look_walks_past_a_long_applied_stretch_and_stops_at_the_gap(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    logged = await _log_with_a_gap(pool, bus)
    statements = Statements()
    async with pool.acquire() as connection:
        connection.add_query_logger(statements)
        last_applied = await positions.look(connection, TENANT, logged[STRETCH - 1])
        walks = await statements.walks()
        past_the_gap = await positions.look(connection, TENANT, logged[STRETCH + 1])
        connection.remove_query_logger(statements)
    # The 150th event is reached: the walk went on past its first step (64), then 256 more...
    assert last_applied.reached
    assert [steps for _, _, steps in walks] == [[64], [256]]
    # ...and stopped at the event not applied: the one after it is not reached.
    assert not past_the_gap.reached


async def test_a_look_whose_first_events_wait_walks_once(pool: asyncpg.Pool, bus: BusNames) -> None:
    book = Gradebook()
    waiting = book.attempt("first", 3, 1)
    later = [book.attempt(f"student-{n}", 3, 1) for n in range(100)]
    async with pool.acquire() as connection:
        await write_log(connection, [waiting, *later])
    await MasteryProjector(pool, bus, CalculationPolicy()).handle_gradebook_events(delivered(later))
    statements = Statements()
    async with pool.acquire() as connection:
        connection.add_query_logger(statements)
        progress = await positions.look(connection, TENANT, None)
        walks = await statements.walks()
        connection.remove_query_logger(statements)
    assert progress.watermark == 0
    # One walk of the first step, not of the whole limit.
    [(tenants, _, steps)] = walks
    assert (tenants, steps) == ([TENANT], [positions.FIRST_STEP])


async def test_a_look_walks_no_further_than_its_limit(
    pool: asyncpg.Pool, bus: BusNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged = await _log_with_a_gap(pool, bus)
    monkeypatch.setattr(positions, "WALK_LIMIT", 100)
    async with pool.acquire() as connection:
        beyond = await positions.look(connection, TENANT, logged[120])
        within = await positions.look(connection, TENANT, logged[99])
    assert not beyond.reached  # applied, but past the limit: left to the next look
    assert within.reached
