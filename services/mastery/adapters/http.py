"""HTTP adapter of the mastery service: the read API."""

from datetime import datetime

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from services.mastery.adapters.read_model import StoredStanding, standings_of
from services.mastery.core.calculation import calculate


class StandardMastery(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None
    method: str
    evidence_count: int
    plain_average: float | None
    last_assessed_at: datetime | None
    explanation: tuple[str, ...]


class StudentMastery(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    standards: list[StandardMastery]


def _view(stored: StoredStanding) -> StandardMastery:
    state = stored.state
    # The stored tally gives the number; the explanation is worked out again from the evidence.
    proficiency = calculate(stored.evidence, state.policy)
    return StandardMastery(
        standard_id=state.key.standard_id,
        score=proficiency.score,
        level=proficiency.level,
        level_label=proficiency.level_label,
        mastered=proficiency.mastered,
        letter=proficiency.letter,
        method=proficiency.method,
        evidence_count=proficiency.evidence_count,
        plain_average=proficiency.plain_average,
        last_assessed_at=state.newest.assessed_at if state.newest else None,
        explanation=proficiency.steps,
    )


class MasteryController(Controller):
    path = "/v1/students"
    tags = ["mastery"]  # noqa: RUF012

    @get("/{student_id:str}/mastery", summary="Current proficiency per standard")
    async def student_mastery(
        self, student_id: FromPath[str], tenant: NamedDependency[str], state: State
    ) -> StudentMastery:
        async with state.pool.acquire() as connection:
            stored = await standings_of(connection, tenant, student_id)
        return StudentMastery(student_id=student_id, standards=[_view(item) for item in stored])
