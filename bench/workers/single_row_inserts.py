"""The raw ceiling for single appends: one event row per transaction over asyncpg, no service."""

import asyncio
import time
import uuid

import asyncpg

from bench.attempt_data import event_json, recorded_event, stream_of
from bench.workers.protocol import SingleRowInserts, WorkerResult, sleep_until


async def run_single_row_inserts(spec: SingleRowInserts) -> WorkerResult:
    pool = await asyncpg.create_pool(
        spec.database_url, min_size=spec.connections, max_size=spec.connections
    )
    assert pool is not None
    result = WorkerResult(seconds=spec.window.duration)
    numbers = iter(range(10**9))
    insert = (
        f"INSERT INTO {spec.table} "  # noqa: S608 - the table name is the bench's own
        "(tenant_id, stream_id, stream_version, event_id, event_type, data, recorded_at) "
        "VALUES ($1, $2, $3, $4, 'attempt_recorded.v2', $5, $6)"
    )

    async def insert_until_done() -> None:
        async with pool.acquire() as connection:
            while (started := time.monotonic()) < spec.window.end:
                number = next(numbers)
                event = recorded_event(spec.tenant_id, spec.prefix, number, spec.students)
                await connection.execute(
                    insert,
                    event.tenant_id,
                    stream_of(event),
                    # Each row gets a version of its own: the ceiling measures writes, not races.
                    number + 1,
                    uuid.uuid4(),
                    event_json(event).decode(),
                    event.recorded_at,
                )
                if spec.window.measures(started):
                    result.completed += 1
                    result.latencies_ms.append(round((time.monotonic() - started) * 1000, 3))

    await sleep_until(spec.window.start_at)
    await asyncio.gather(*(insert_until_done() for _ in range(spec.connections)))
    await pool.close()
    return result
