"""The read-model rebuild in a process of its own, and its ceiling: a raw asyncpg cursor scan."""

import time
from datetime import UTC, datetime

import asyncpg

from bench.workers.protocol import CursorScanRun, RebuildRun, WorkerResult
from services.mastery.adapters.rebuild import rebuild_read_model
from services.mastery.app import DEFAULT_POLICY


async def run_rebuild(spec: RebuildRun) -> WorkerResult:
    connection = await asyncpg.connect(spec.database_url)
    reader = await asyncpg.connect(spec.database_url)
    try:
        started = time.monotonic()
        report = await rebuild_read_model(
            connection, reader, default_policy=DEFAULT_POLICY, now=datetime.now(UTC)
        )
        elapsed = time.monotonic() - started
    finally:
        await reader.close()
        await connection.close()
    # `errors` carries the proficiency count back, for the scenario's sanity check.
    return WorkerResult(
        completed=report.events, seconds=elapsed, errors={"proficiencies": report.proficiencies}
    )


async def run_cursor_scan(spec: CursorScanRun) -> WorkerResult:
    connection = await asyncpg.connect(spec.database_url)
    rows = 0
    try:
        started = time.monotonic()
        async with connection.transaction():
            async for _ in connection.cursor(spec.query, prefetch=spec.prefetch):
                rows += 1
        elapsed = time.monotonic() - started
    finally:
        await connection.close()
    return WorkerResult(completed=rows, seconds=elapsed)
