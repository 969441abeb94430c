"""Migration mastery/015: the old default letters stored in policies become the level bands,
while a standard that named its own letters keeps them."""

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.core.recording import RecordAttempt
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.core.calculation import FALLBACK_POLICY
from services.mastery.core.student_standard import StudentStandard
from shared.contract.events.gradebook import gradebook_envelopes
from shared.contract.grading import DEFAULT_LETTERS, CalculationPolicy, LetterGrade
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.logs import logged_messages
from tests.support.tenants import define_standard

START = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
MIGRATION = (
    Path(__file__).parents[2] / "services/mastery/migrations/015_default_letters_as_level_bands.sql"
).read_text()
OLD_DEFAULT = tuple(
    LetterGrade(letter=letter, min_fraction=share)
    for letter, share in (("A", 0.9), ("B", 0.8), ("C", 0.7), ("D", 0.6), ("F", 0.0))
)
_old_json = msgspec.json.encode(
    [{"letter": g.letter, "min_fraction": g.min_fraction} for g in OLD_DEFAULT]
).decode()


async def test_stored_default_letters_become_level_bands_and_explicit_ones_stay(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await define_standard(pool, bus, "school", "plain")
    await define_standard(pool, bus, "school", "own", letters=OLD_DEFAULT)
    recorder = AttemptRecorder(pool)
    for standard in ("plain", "own"):
        command = RecordAttempt(tenant_id="school", attempt_id=f"a-{standard}", student_id="maya",
                                standard_id=standard, score=3, assessed_at=START)  # fmt: skip
        await recorder.record(command, now=START)
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    envelopes = gradebook_envelopes()
    for position, message in await logged_messages(pool, bus):
        await projector.handle_gradebook_events(
            [Delivered(envelopes.decode(message.payload), position)]
        )
    # As a projector before level bands stored them: the old default, written out.
    await pool.execute(
        "UPDATE standard_policies SET policy = jsonb_set(policy, '{letters}', $1::jsonb)", _old_json
    )
    await pool.execute(
        "UPDATE proficiencies SET state = jsonb_set(state::jsonb, '{policy,letters}', $1::jsonb)"
        "::json",
        _old_json,
    )

    await pool.execute(MIGRATION)

    policies = {
        row["standard_id"]: msgspec.json.decode(row["policy"], type=CalculationPolicy).letters
        for row in await pool.fetch("SELECT standard_id, policy::text FROM standard_policies")
    }
    states = {
        row["standard_id"]: msgspec.json.decode(row["state"], type=StudentStandard).policy.letters
        for row in await pool.fetch("SELECT standard_id, state::text FROM proficiencies")
    }
    assert policies["plain"] == states["plain"] == DEFAULT_LETTERS
    assert [g.min_fraction for g in policies["own"]] == [0.9, 0.8, 0.7, 0.6, 0.0]
    assert [g.min_fraction for g in states["own"]] == [0.9, 0.8, 0.7, 0.6, 0.0]
