"""A batch is stored by one statement that writes one row per attempt, its event: the log is the
outbox (its messages in stream order) and its unique key takes the attempt ids."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from services.attempts.adapters.recorder import BATCH_READ, AttemptRecorder, Recorded
from services.attempts.core.recording import RecordAttempt
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from tests.support.logs import logged_messages
from tests.support.roles import service_url
from tests.support.tenants import define_standard, new_tenant

NOW = datetime.now(UTC).replace(microsecond=0)
_envelopes = EnvelopeCodec[LatestGradebookEvent](LatestGradebookEvent)


def _attempt(tenant_id: str, number: int, student: str = "lee") -> RecordAttempt:
    return RecordAttempt(
        tenant_id=tenant_id, attempt_id=f"a{number}", student_id=student,
        standard_id="math.fractions", score=1 + number % 4, points_possible=4,
        assessed_at=NOW - timedelta(days=1, minutes=10 - number),
    )  # fmt: skip


async def test_log_positions_follow_the_stream_versions_of_a_batch(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant_id, _ = await new_tenant(pool)
    await define_standard(pool, bus, tenant_id)
    recorder = AttemptRecorder(pool)
    results = await recorder.record_batch([_attempt(tenant_id, n) for n in range(5)], now=NOW)
    assert all(isinstance(result, Recorded) for result in results)
    messages = [
        message
        for _, message in await logged_messages(pool, bus)
        if message.tenant_id == tenant_id and message.subject.endswith(".recorded")
    ]
    assert [_envelopes.decode(m.payload).streamversion for m in messages] == [1, 2, 3, 4, 5]


async def test_a_new_attempt_writes_one_row(pool: asyncpg.Pool, bus: BusNames) -> None:
    tenant_id, _ = await new_tenant(pool)
    await define_standard(pool, bus, tenant_id)
    before = await _rows_written(pool)
    recorded = await AttemptRecorder(pool).record(_attempt(tenant_id, 1), now=NOW)
    assert isinstance(recorded, Recorded)
    assert await _rows_written(pool) - before == 1


async def test_a_batch_replays_a_known_attempt_id_and_stores_only_the_new_one(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant_id, _ = await new_tenant(pool)
    await define_standard(pool, bus, tenant_id)
    recorder = AttemptRecorder(pool)
    first = await recorder.record(_attempt(tenant_id, 1), now=NOW)
    assert isinstance(first, Recorded)
    [again, new] = await recorder.record_batch(
        [_attempt(tenant_id, 1), _attempt(tenant_id, 2, student="ana")], now=NOW
    )
    assert isinstance(again, Recorded)
    assert again.outcome == "replayed"
    assert msgspec.to_builtins(again.receipt) == msgspec.to_builtins(first.receipt)
    assert isinstance(new, Recorded)
    assert new.outcome == "created"
    events = await pool.fetchval(
        "SELECT count(*) FROM attempt_events WHERE tenant_id = $1 AND stream_id NOT LIKE '%//%'",
        tenant_id,
    )
    assert events == 2


_COUNT_ALL_ROWS = """
CREATE OR REPLACE FUNCTION pg_temp.all_rows() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    name text;
    found bigint;
    total bigint := 0;
BEGIN
    FOR name IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
        EXECUTE format('SELECT count(*) FROM %I', name) INTO found;
        total := total + found;
    END LOOP;
    RETURN total;
END;
$$
"""


async def _rows_written(pool: asyncpg.Pool) -> int:
    """Rows in every table of the database (the write path deletes nothing, so a difference is
    what was written)."""
    async with pool.acquire() as connection:
        await connection.execute(_COUNT_ALL_ROWS)
        total: int = await connection.fetchval("SELECT pg_temp.all_rows()")
    return total


async def test_the_attempt_id_lookup_is_one_index_probe_under_the_tenant_wall(
    pool: asyncpg.Pool, database_url: str, bus: BusNames
) -> None:
    """Row-level security checks a non-leakproof condition (`data->>'attempt_id'`) only after its
    policy, so it cannot narrow an index scan: the lookup would read every event of the tenant.
    The key is a plain column, so the attempt-id part of the batch read reads one entry."""
    tenant_id, _ = await new_tenant(pool)
    await define_standard(pool, bus, tenant_id)
    recorder = AttemptRecorder(pool)
    many = [_attempt(tenant_id, n, student=f"s{n}") for n in range(300)]
    assert all(isinstance(r, Recorded) for r in await recorder.record_batch(many, now=NOW))
    connection = await asyncpg.connect(service_url(database_url, "attempts"))
    try:
        async with connection.transaction():
            await connection.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
            plan = await connection.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {BATCH_READ}",
                tenant_id, ["a7"], ["none"], ["none"],
                column=0,
            )  # fmt: skip
    finally:
        await connection.close()
    [document] = msgspec.json.decode(plan)
    scans = list(_nodes(document))
    [lookup] = [node for node in scans if node.get("Index Name") == "attempt_events_attempt_id"]
    assert "recorded_attempt_id" in lookup["Index Cond"]
    assert lookup.get("Rows Removed by Filter", 0) == 0
    assert lookup["Actual Rows"] == 1


def _nodes(plan: object) -> Iterator[dict[str, Any]]:
    if isinstance(plan, dict):
        yield plan
        for child in plan.get("Plans", []) + ([plan["Plan"]] if "Plan" in plan else []):
            yield from _nodes(child)
