"""Rebuilding the read model from the event store gives what the live projector built."""

from datetime import UTC, datetime, timedelta

import asyncpg

from services.attempts.adapters.event_store import AttemptStore
from services.attempts.core.recording import RecordAttempt
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.adapters.rebuild import rebuild_read_model
from services.mastery.core.calculation import CalculationPolicy
from shared.bus import BusNames
from shared.cloudevents import EnvelopeCodec
from shared.consumer import Delivered
from shared.events.attempts import AnyAttemptEvent

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
POLICY = CalculationPolicy(method="decaying_average")
_envelopes = EnvelopeCodec(AnyAttemptEvent)

# (student, standard, score, days before NOW): lee's third attempt arrives late and older.
ATTEMPTS = [
    ("lee", "math.ratio", 2, 9),
    ("lee", "math.ratio", 4, 1),
    ("lee", "math.ratio", 1, 20),
    ("lee", "ela.theme", 3, 5),
    ("ana", "math.ratio", 3.5, 4),
]


async def _record_and_project(pool: asyncpg.Pool, bus: BusNames) -> None:
    store = AttemptStore(pool, bus)
    for n, (student, standard, score, days) in enumerate(ATTEMPTS):
        command = RecordAttempt(
            tenant_id="school",
            attempt_id=f"a{n}",
            student_id=student,
            standard_id=standard,
            score=score,
            points_possible=4,
            assessed_at=NOW - timedelta(days=days),
        )
        await store.record(command, now=NOW)
    rows = await pool.fetch("SELECT payload FROM attempts_outbox ORDER BY position")
    projector = MasteryProjector(pool, bus, POLICY)
    for sequence, row in enumerate(rows, start=1):
        await projector.handle_attempt_events(
            [Delivered(_envelopes.decode(row["payload"]), sequence)]
        )


async def _read_model(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT student_id, standard_id, score, level, mastered, evidence_count, last_assessed_at "
        "FROM proficiencies ORDER BY student_id, standard_id"
    )
    return [tuple(row.values()) for row in rows]


async def test_rebuild_from_the_event_store_equals_the_live_read_model(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await _record_and_project(pool, bus)
    live = await _read_model(pool)
    live_evidence = await pool.fetchval("SELECT count(*) FROM mastery_evidence")
    assert len(live) == 3
    assert live[2][2] == 3.18  # lee on math.ratio: 1, 2, 4 by assessed_at, decayed at 65%

    await pool.execute("UPDATE proficiencies SET score = 0")  # a damaged read model
    async with pool.acquire() as connection:
        report = await rebuild_read_model(connection, policy=POLICY, now=NOW)

    assert (report.events, report.proficiencies) == (5, 3)
    assert await _read_model(pool) == live
    assert await pool.fetchval("SELECT count(*) FROM mastery_evidence") == live_evidence == 5
