"""Batch ingest: batches of attempts over HTTP, and their ceiling, COPY of the same event rows."""

import asyncio
import time
from collections import Counter

import asyncpg
import msgspec

from bench.attempt_data import assessed_at, event_row, recorded_event, spread_attempt
from bench.http_client import JsonPost, KeepAliveConnection
from bench.workers.protocol import BatchHttpLoad, CopyBatches, WorkerResult, sleep_until
from services.attempts.adapters.event_store import EVENT_COLUMNS

BATCH_PATH = "/v1/attempts/batch"
COPY_COLUMNS = EVENT_COLUMNS.names


class _BatchCounts(msgspec.Struct):
    created: int
    replayed: int
    refused: int


_counts = msgspec.json.Decoder(_BatchCounts)


class _Batches:
    """Numbers the attempts of one generator process; each batch takes the next `size`."""

    def __init__(self, spec: BatchHttpLoad) -> None:
        self.spec = spec
        self.post = JsonPost(spec.host, spec.port, BATCH_PATH, spec.bearer)
        self.when = assessed_at()
        self.next_number = 0

    def next_request(self) -> bytes:
        first, size = self.next_number, self.spec.batch_size
        self.next_number += size
        items = (
            spread_attempt(self.spec.prefix, number, self.spec.students, self.when)
            for number in range(first, first + size)
        )
        return self.post.request(b'{"attempts":[' + b",".join(items) + b"]}")


async def run_batch_http_load(spec: BatchHttpLoad) -> WorkerResult:
    """Counts only attempts the server created; refused items and failed requests are errors."""
    batches = _Batches(spec)
    result = WorkerResult(seconds=spec.window.duration)
    errors: Counter[str] = Counter()
    connections = [
        await KeepAliveConnection.open(spec.host, spec.port) for _ in range(spec.connections)
    ]

    async def post_until_done(connection: KeepAliveConnection) -> None:
        while (started := time.monotonic()) < spec.window.end:
            status, body = await connection.exchange_with_body(batches.next_request())
            if not spec.window.measures(started):
                continue
            result.latencies_ms.append(round((time.monotonic() - started) * 1000, 3))
            if status != 200:
                errors[str(status)] += spec.batch_size
                continue
            counts = _counts.decode(body)
            result.completed += counts.created
            errors["replayed"] += counts.replayed
            errors["refused"] += counts.refused

    await sleep_until(spec.window.start_at)
    await asyncio.gather(*(post_until_done(connection) for connection in connections))
    for connection in connections:
        await connection.close()
    result.errors = {reason: count for reason, count in errors.items() if count}
    return result


async def run_copy_batches(spec: CopyBatches) -> WorkerResult:
    pool = await asyncpg.create_pool(
        spec.database_url, min_size=spec.connections, max_size=spec.connections
    )
    assert pool is not None
    result = WorkerResult(seconds=spec.window.duration)
    next_number = 0

    def next_rows() -> list[tuple[object, ...]]:
        nonlocal next_number
        first, next_number = next_number, next_number + spec.batch_size
        rows: list[tuple[object, ...]] = []
        for number in range(first, first + spec.batch_size):
            event = recorded_event(spec.tenant_id, spec.prefix, number, spec.students)
            # Each row gets a version of its own: the ceiling measures writes, not races.
            rows.append(EVENT_COLUMNS.values(event_row(event, version=number + 1)))
        return rows

    async def copy_until_done() -> None:
        async with pool.acquire() as connection:
            while (started := time.monotonic()) < spec.window.end:
                await connection.copy_records_to_table(
                    spec.table, records=next_rows(), columns=COPY_COLUMNS
                )
                if spec.window.measures(started):
                    result.completed += spec.batch_size
                    result.latencies_ms.append(round((time.monotonic() - started) * 1000, 3))

    await sleep_until(spec.window.start_at)
    await asyncio.gather(*(copy_until_done() for _ in range(spec.connections)))
    await pool.close()
    return result
