"""A batch is stored by one statement that writes one row per attempt, its event: the log is the
outbox (its messages in stream order) and its unique key takes the attempt ids."""

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from services.attempts.adapters.recorder import AttemptRecorder, Recorded
from services.attempts.core.recording import RecordAttempt
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from tests.support.logs import logged_messages
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
