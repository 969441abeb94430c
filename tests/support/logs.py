"""The attempts log's messages as its relay publishes them, for tests that project by hand."""

import asyncpg

from services.attempts.adapters.event_store import logged_outbox_rows
from shared.platform.bus import BusNames
from shared.platform.outbox import OutboxRow


async def logged_messages(
    pool: asyncpg.Pool, bus: BusNames, *, after: int = 0
) -> list[tuple[int, OutboxRow]]:
    """Every event of the attempts log after position `after`, in log order, as (position,
    the message its relay publishes)."""
    async with pool.acquire() as connection:
        return await logged_outbox_rows(connection, after + 1, None, 1_000_000, bus)
