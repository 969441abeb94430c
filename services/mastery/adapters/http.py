"""HTTP adapter of the mastery service: the read API."""

from datetime import datetime

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from services.mastery.adapters.history import first_recorded, stream_history, with_proficiency
from services.mastery.adapters.policies import policies_for
from services.mastery.adapters.read_model import StoredStanding, standings_of
from services.mastery.adapters.views import HistoryEntryOut, MarkerOut, history_view
from services.mastery.core.calculation import FALLBACK_POLICY, Evidence
from services.mastery.core.explanation import explained_records, was_rescored
from shared.contract.grading import parameter_in_force
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.tenant_scope import tenant_connection


class StandardMastery(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None
    method: str
    parameter: float | None  # in force: the method's default when none was given
    evidence_count: int
    plain_average: float | None
    last_assessed_at: datetime | None
    markers: tuple[MarkerOut, ...]
    explanation: tuple[str, ...]


class StudentMastery(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    standards: list[StandardMastery]


def _view(stored: StoredStanding, first: dict[str, Evidence]) -> StandardMastery:
    state = stored.state
    # The stored tally gives the number; the explanation is worked out again from the evidence.
    firsts = {
        r.evidence.attempt_id: first[r.event_id] for r in stored.records if r.event_id in first
    }
    proficiency = explained_records(stored.records, state.policy, firsts)
    return StandardMastery(
        standard_id=state.key.standard_id,
        score=proficiency.score,
        level=proficiency.level,
        level_label=proficiency.level_label,
        mastered=proficiency.mastered,
        letter=proficiency.letter,
        method=proficiency.method,
        parameter=proficiency.parameter,
        evidence_count=proficiency.evidence_count,
        plain_average=proficiency.plain_average,
        last_assessed_at=state.newest.assessed_at if state.newest else None,
        markers=tuple(
            msgspec.convert(marker, MarkerOut, from_attributes=True)
            for marker in proficiency.markers
        ),
        explanation=proficiency.steps,
    )


class StandardHistory(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    standard_id: str
    method: str
    parameter: float | None
    events: list[HistoryEntryOut]


class MasteryController(Controller):
    path = "/v1/students"
    tags = ["mastery"]  # noqa: RUF012

    @get(
        "/{student_id:str}/mastery",
        opt=requires("read"),
        summary="Current proficiency per standard",
    )
    async def student_mastery(
        self, student_id: PathId, tenant: NamedDependency[str], state: State
    ) -> StudentMastery:
        async with tenant_connection(state.pool, tenant) as connection:
            stored = await standings_of(connection, tenant, student_id)
            rescored = [r.event_id for s in stored for r in s.records if was_rescored(r)]
            first = await first_recorded(connection, rescored)
        views = [_view(item, first) for item in stored]
        return StudentMastery(student_id=student_id, standards=views)

    @get(
        "/{student_id:str}/standards/{standard_id:str}/history",
        opt=requires("read"),
        summary="Every event of a student's stream on a standard, with the proficiency after each",
        description="In recorded order; voids and rescores appear as events of their own and the "
        "proficiency after them reflects them. Calculated under the standard's current policy.",
        responses={404: ResponseSpec(None, description="No events for this student and standard")},
    )
    async def history(
        self,
        student_id: PathId,
        standard_id: PathId,
        tenant: NamedDependency[str],
        state: State,
    ) -> StandardHistory:
        async with tenant_connection(state.pool, tenant) as connection:
            events = await stream_history(connection, tenant, student_id, standard_id)
            known = await policies_for(connection, [(tenant, standard_id)], FALLBACK_POLICY)
        if not events:
            raise Problem(
                404, "not-found", "No history",
                f"no events for student {student_id!r} on standard {standard_id!r}",
            )  # fmt: skip
        policy = known[(tenant, standard_id)]
        return StandardHistory(
            student_id=student_id,
            standard_id=standard_id,
            method=policy.method,
            parameter=parameter_in_force(policy.method, policy.parameter),
            events=[history_view(entry) for entry in with_proficiency(events, policy)],
        )
