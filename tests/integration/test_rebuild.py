"""Rebuilding the read model from the event store gives what the live projector built."""

import gc
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt, Refuse, RescoreAttempt, VoidAttempt
from services.mastery.adapters import positions, rebuild, replay
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.adapters.read_model import load_states
from services.mastery.core.calculation import CalculationPolicy
from services.mastery.core.student_standard import (
    StudentStandardKey,
    state_of_records,
)
from services.migrations import ALL_MIGRATIONS
from shared.contract.events.gradebook import gradebook_envelopes
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from shared.platform.postgres import apply_migrations
from tests.support.logs import logged_messages
from tests.support.tenants import define_standard

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
POLICY = CalculationPolicy(method="latest")
_envelopes = gradebook_envelopes()

# (student, standard, score, days before NOW): lee's third attempt arrives late and older; ana's
# second is voided, her third rescored, and a missing marker sits beside them.
ATTEMPTS = [
    ("lee", "math.ratio", 2, 9),
    ("lee", "math.ratio", 4, 1),
    ("lee", "math.ratio", 1, 20),
    ("lee", "ela.theme", 3, 5),
    ("ana", "math.ratio", 3.5, 4),
    ("ana", "math.ratio", 1, 3),
    ("ana", "math.ratio", 2, 2),
    ("ana", "math.ratio", None, 1),
]


async def _record_and_project(pool: asyncpg.Pool, bus: BusNames) -> None:
    await define_standard(pool, bus, "school", "math.ratio", method="decaying_average")
    await define_standard(pool, bus, "school", "ela.theme")
    recorder = AttemptRecorder(pool)
    for n, (student, standard, score, days) in enumerate(ATTEMPTS):
        command = RecordAttempt(
            tenant_id="school",
            attempt_id=f"a{n}",
            student_id=student,
            standard_id=standard,
            status="scored" if score is not None else "missing",
            score=score,
            points_possible=4 if score is not None else None,
            assessed_at=NOW - timedelta(days=days),
        )
        assert not isinstance(await recorder.record(command, now=NOW), Refuse)
    void = VoidAttempt(tenant_id="school", attempt_id="a5", reason="wrong student")
    assert not isinstance(await recorder.void(void, now=NOW), Refuse)
    rescore = RescoreAttempt(
        tenant_id="school", attempt_id="a6", score=4, points_possible=4, reason="regraded"
    )
    assert not isinstance(await recorder.rescore(rescore, now=NOW), Refuse)
    rows = await logged_messages(pool, bus)
    projector = MasteryProjector(pool, bus, POLICY)
    for sequence, (_, message) in enumerate(rows, start=1):
        envelope = _envelopes.decode(message.payload)
        await projector.handle_gradebook_events([Delivered(envelope, sequence)])


async def _read_model(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT student_id, standard_id, score, level, mastered, evidence_count, last_assessed_at "
        "FROM proficiencies ORDER BY student_id, standard_id"
    )
    return [tuple(row.values()) for row in rows]


@pytest.mark.parametrize("chunk", [5_000, 2], ids=["one chunk", "streams across chunks"])
async def test_rebuild_from_the_event_store_equals_the_live_read_model(
    pool: asyncpg.Pool, bus: BusNames, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "_FETCH", chunk)  # 2: a stream's events come in several chunks
    monkeypatch.setattr(replay, "_YIELD_EVERY", 1)  # the stores go on between streams
    await _record_and_project(pool, bus)
    live = await _read_model(pool)
    live_evidence = await pool.fetchval("SELECT count(*) FROM mastery_evidence")
    assert len(live) == 3
    assert live[2][2] == 3.18  # lee on math.ratio: 1, 2, 4 by assessed_at, decayed at 65%
    assert live[0][2] == 3.83  # ana: 3.5 then 4 (rescored; the voided 1 left), decayed at 65%

    await pool.execute("UPDATE proficiencies SET score = 0")  # a damaged read model
    async with pool.acquire() as connection, pool.acquire() as reader:
        report = await rebuild.rebuild_read_model(
            connection, reader, default_policy=POLICY, now=NOW
        )

    assert (report.events, report.proficiencies) == (10, 3)
    assert await _read_model(pool) == live
    assert await pool.fetchval("SELECT count(*) FROM mastery_evidence") == live_evidence == 8
    assert await pool.fetchval("SELECT count(*) FROM mastery_evidence WHERE voided") == 1


async def test_a_rebuild_that_fails_midway_leaves_the_read_model_as_it_was(
    pool: asyncpg.Pool, bus: BusNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _record_and_project(pool, bus)
    before = await _read_model(pool)
    monkeypatch.setattr(replay, "_FETCH", 2)  # so a chunk is being stored when the fold fails
    folds = 0
    fold = state_of_records
    thresholds_during: list[tuple[int, int, int]] = []

    def failing_fold(*args: Any, **kwargs: Any) -> Any:
        nonlocal folds
        folds += 1
        thresholds_during.append(gc.get_threshold())
        if folds == 3:
            raise RuntimeError("a bug in the fold")
        return fold(*args, **kwargs)

    monkeypatch.setattr(replay, "state_of_records", failing_fold)
    collection_thresholds = gc.get_threshold()
    async with pool.acquire() as connection, pool.acquire() as reader:
        with pytest.raises(RuntimeError, match="a bug in the fold"):
            await rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW)
        assert (await connection.fetchval("SELECT 1"), await reader.fetchval("SELECT 1")) == (1, 1)
    assert thresholds_during[0][0] == replay._YOUNG_COLLECTION_EVERY
    assert gc.get_threshold() == collection_thresholds != thresholds_during[0]

    assert await _read_model(pool) == before


async def test_states_stored_before_the_json_migration_load_the_same_after_it(
    pool: asyncpg.Pool, bus: BusNames, database_url: str
) -> None:
    # The read model as it was before mastery/004: the state column still jsonb.
    await pool.execute("ALTER TABLE proficiencies ALTER COLUMN state TYPE jsonb USING state::jsonb")
    await pool.execute("DELETE FROM schema_migrations WHERE component = 'mastery' AND version = 4")
    await _record_and_project(pool, bus)
    keys = [
        StudentStandardKey(tenant_id=row[0], student_id=row[1], standard_id=row[2])
        for row in await pool.fetch("SELECT tenant_id, student_id, standard_id FROM proficiencies")
    ]
    async with pool.acquire() as connection, connection.transaction():
        before = await load_states(connection, keys)

    applied = await apply_migrations(database_url, ALL_MIGRATIONS)

    assert applied == ["mastery/004_state_as_json.sql"]
    fresh = await asyncpg.connect(database_url)  # no statements prepared against jsonb
    try:
        column_type = await fresh.fetchval(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = 'proficiencies' AND column_name = 'state'"
        )
        async with fresh.transaction():
            after = await load_states(fresh, keys)
    finally:
        await fresh.close()
    assert column_type == "json"
    assert len(before) == 3
    assert after == before


async def test_a_rebuilt_read_model_has_applied_the_whole_log(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await _record_and_project(pool, bus)
    newest = await pool.fetchval("SELECT max(position) FROM attempt_log")
    await pool.execute(
        "TRUNCATE proficiencies, mastery_evidence, applied_policy_versions, read_model_positions"
    )
    async with pool.acquire() as connection:
        assert not (await positions.look(connection, "school", newest)).reached
    async with pool.acquire() as connection, pool.acquire() as reader:
        await rebuild.rebuild_read_model(connection, reader, default_policy=POLICY, now=NOW)
        # Standards' and policies' streams count as applied too, not only the students'.
        assert (await positions.look(connection, "school", newest)).reached
