"""HTTP adapter of the mastery service: the read API."""

from datetime import datetime

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from services.mastery.adapters.read_model import proficiencies_of
from services.mastery.core.projection import StudentStandard


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


def _view(state: StudentStandard) -> StandardMastery:
    proficiency = state.proficiency
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
        last_assessed_at=max((item.assessed_at for item in state.evidence), default=None),
        explanation=proficiency.steps,
    )


class MasteryController(Controller):
    path = "/v1/students"
    tags = ["mastery"]  # noqa: RUF012

    @get("/{student_id:str}/mastery", summary="Current proficiency per standard")
    async def student_mastery(
        self, student_id: FromPath[str], tenant: NamedDependency[str], state: State
    ) -> StudentMastery:
        states = await proficiencies_of(state.pool, tenant, student_id)
        return StudentMastery(student_id=student_id, standards=[_view(item) for item in states])
