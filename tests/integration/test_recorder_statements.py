"""A batch is stored by one statement: events, outbox rows (in stream order) and attempt ids."""

from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec

from services.attempts.adapters.recorder import AttemptRecorder, Recorded
from services.attempts.core.recording import RecordAttempt
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import LatestGradebookEvent
from shared.platform.bus import BusNames
from tests.support.tenants import define_standard, new_tenant

NOW = datetime.now(UTC).replace(microsecond=0)
_envelopes = EnvelopeCodec[LatestGradebookEvent](LatestGradebookEvent)


def _attempt(tenant_id: str, number: int, student: str = "lee") -> RecordAttempt:
    return RecordAttempt(
        tenant_id=tenant_id, attempt_id=f"a{number}", student_id=student,
        standard_id="math.fractions", score=1 + number % 4, points_possible=4,
        assessed_at=NOW - timedelta(days=1, minutes=10 - number),
    )  # fmt: skip


async def test_outbox_positions_follow_the_stream_versions_of_a_batch(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant_id, _ = await new_tenant(pool)
    await define_standard(pool, bus, tenant_id)
    recorder = AttemptRecorder(pool)
    results = await recorder.record_batch([_attempt(tenant_id, n) for n in range(5)], now=NOW)
    assert all(isinstance(result, Recorded) for result in results)
    rows = await pool.fetch(
        "SELECT payload FROM attempts_outbox WHERE tenant_id = $1 AND subject LIKE '%.recorded' "
        "ORDER BY position",
        tenant_id,
    )
    assert [_envelopes.decode(row["payload"]).streamversion for row in rows] == [1, 2, 3, 4, 5]


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
    counts = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM attempt_requests WHERE tenant_id = $1) AS ids, "
        "(SELECT count(*) FROM attempt_events WHERE tenant_id = $1 "
        "AND stream_id NOT LIKE '%//%') AS events",
        tenant_id,
    )
    assert counts is not None
    assert (counts["ids"], counts["events"]) == (2, 2)
