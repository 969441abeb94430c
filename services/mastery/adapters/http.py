"""HTTP adapter of the mastery service: the read API."""

from datetime import datetime

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec

from services.mastery.adapters.freshness import (
    FRESHNESS_HEADERS,
    READ_YOUR_WRITES,
    MinPosition,
    ReadWait,
    wait_for,
)
from services.mastery.adapters.history import stream_history, with_proficiency
from services.mastery.adapters.policies import policies_for
from services.mastery.adapters.read_model import StoredStanding, standings_of
from services.mastery.adapters.views import HistoryEntryOut, MarkerOut, history_view
from services.mastery.core.calculation import FALLBACK_POLICY, calculate
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
    evidence_count: int
    plain_average: float | None
    last_assessed_at: datetime | None
    markers: tuple[MarkerOut, ...]
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
    events: list[HistoryEntryOut]


class MasteryController(Controller):
    path = "/v1/students"
    tags = ["mastery"]  # noqa: RUF012

    @get(
        "/{student_id:str}/mastery",
        opt=requires("read"),
        summary="Current proficiency per standard",
        description=READ_YOUR_WRITES,
        response_headers=FRESHNESS_HEADERS,
    )
    async def student_mastery(
        self,
        student_id: PathId,
        tenant: NamedDependency[str],
        read_wait: NamedDependency[ReadWait],
        state: State,
        min_position: MinPosition = None,
    ) -> Response[StudentMastery]:
        fresh = await wait_for(state.pool, tenant, min_position, read_wait)
        async with tenant_connection(state.pool, tenant) as connection:
            stored = await standings_of(connection, tenant, student_id)
        body = StudentMastery(student_id=student_id, standards=[_view(item) for item in stored])
        return Response(body, headers=fresh.headers())

    @get(
        "/{student_id:str}/standards/{standard_id:str}/history",
        opt=requires("read"),
        summary="Every event of a student's stream on a standard, with the proficiency after each",
        description="In recorded order; voids and rescores appear as events of their own and the "
        "proficiency after them reflects them. Calculated under the standard's current policy.",
        responses={404: ResponseSpec(None, description="No events for this student and standard")},
        response_headers=FRESHNESS_HEADERS,
    )
    async def history(
        self,
        student_id: PathId,
        standard_id: PathId,
        *,
        tenant: NamedDependency[str],
        read_wait: NamedDependency[ReadWait],
        state: State,
        min_position: MinPosition = None,
    ) -> Response[StandardHistory]:
        fresh = await wait_for(state.pool, tenant, min_position, read_wait)
        async with tenant_connection(state.pool, tenant) as connection:
            events = await stream_history(connection, tenant, student_id, standard_id)
            known = await policies_for(connection, [(tenant, standard_id)], FALLBACK_POLICY)
        if not events:
            raise Problem(
                404, "not-found", "No history",
                f"no events for student {student_id!r} on standard {standard_id!r}",
            )  # fmt: skip
        policy = known[(tenant, standard_id)]
        body = StandardHistory(
            student_id=student_id,
            standard_id=standard_id,
            method=policy.method,
            events=[history_view(entry) for entry in with_proficiency(events, policy)],
        )
        return Response(body, headers=fresh.headers())
