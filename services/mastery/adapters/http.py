"""HTTP adapter of the mastery service: the read API."""

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import Parameter

from services.mastery.adapters.freshness import (
    FRESHNESS_HEADERS,
    READ_YOUR_WRITES,
    MinPosition,
    ReadWait,
    wait_for,
)
from services.mastery.adapters.history import first_recorded, stream_log, student_log
from services.mastery.adapters.read_model import StoredStanding, standings_of
from services.mastery.adapters.views import HistoryEntryOut, MarkerOut, history_view
from services.mastery.core.calculation import FALLBACK_POLICY, Evidence
from services.mastery.core.explanation import explained_records, was_rescored
from services.mastery.core.student_standard import StudentStandardKey, state_of_records
from services.mastery.core.timeline import StandingThen, history_of, standings_as_of
from shared.contract.grading import parameter_in_force
from shared.contract.timestamps import offset_problem
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.openapi import problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

# The projector's default, for attempts on a standard never defined: the same here, so the
# answer from the log as of now is the read model's.
DEFAULT_POLICY = FALLBACK_POLICY

AsOf = Annotated[
    str | None,
    Parameter(
        required=False,
        description="An RFC 3339 instant with a UTC offset: answer from the attempts log what was "
        "true then, the events recorded by then under the policy then in force (a future instant "
        "is now).",
    ),
]


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


def _instant(as_of: str | None) -> datetime | None:
    """The `as_of` query parameter as an instant, or a 422 problem naming it."""
    if as_of is None:
        return None
    try:
        value = msgspec.convert(as_of, datetime)
    except msgspec.ValidationError:
        problem: str | None = "not an RFC 3339 date-time (e.g. 2026-10-01T09:30:00Z)"
    else:
        problem = offset_problem(value)
    if problem is not None:
        raise Problem(
            422, "validation-error", "The request is not valid", f"as_of: {problem}",
            errors=[{"field": "as_of", "message": problem}],
        )  # fmt: skip
    return value


def _stored_then(standing: StandingThen) -> StoredStanding:
    state = state_of_records(standing.key, standing.records.values(), policy=standing.policy)
    return StoredStanding(state=state, records=list(standing.records.values()))


async def _standings(
    connection: DbConnection, tenant: str, student_id: str, at: datetime | None
) -> list[StoredStanding]:
    """The read model (the fast path), or with `at` the same worked out from the log."""
    if at is None:
        return await standings_of(connection, tenant, student_id)
    log = await student_log(connection, tenant, student_id, at)
    return [_stored_then(item) for item in standings_as_of(log, at, DEFAULT_POLICY)]


class MasteryController(Controller):
    path = "/v1/students"
    tags = ["mastery"]  # noqa: RUF012

    @get(
        "/{student_id:str}/mastery",
        opt=requires("read"),
        summary="Current proficiency per standard, or as it stood at `as_of`",
        description="Without `as_of`, the read model. With it, worked out from the attempts log: "
        "the events recorded at or before `as_of` (a correction recorded later does not apply "
        "yet), each standard under the policy in force then. " + READ_YOUR_WRITES,
        response_headers=FRESHNESS_HEADERS,
    )
    async def student_mastery(
        self,
        student_id: PathId,
        *,
        tenant: NamedDependency[str],
        read_wait: NamedDependency[ReadWait],
        state: State,
        min_position: MinPosition = None,
        as_of: AsOf = None,
    ) -> Response[StudentMastery]:
        at = _instant(as_of)
        fresh = await wait_for(state.pool, tenant, min_position, read_wait)
        async with tenant_connection(state.pool, tenant) as connection:
            stored = await _standings(connection, tenant, student_id, at)
            rescored = [r.event_id for s in stored for r in s.records if was_rescored(r)]
            first = await first_recorded(connection, rescored)
        body = StudentMastery(student_id=student_id, standards=[_view(s, first) for s in stored])
        return Response(body, headers=fresh.headers())

    @get(
        "/{student_id:str}/standards/{standard_id:str}/history",
        opt=requires("read"),
        summary="Every event of a student's stream on a standard, with the proficiency after each",
        description="In log order; voids and rescores appear as events of their own and the "
        "proficiency after them reflects them. Each proficiency is calculated under the policy "
        "in force when its event was recorded; a change of that policy after the stream began "
        "is an entry of its own (`policy_changed`, with the previous and the new method), with "
        "the proficiency recalculated under it. `method` is the policy in force at the end. "
        "With `as_of`, only the events recorded by then.",
        responses={404: problem("No events for this student and standard")},
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
        as_of: AsOf = None,
    ) -> Response[StandardHistory]:
        at = _instant(as_of)
        fresh = await wait_for(state.pool, tenant, min_position, read_wait)
        async with tenant_connection(state.pool, tenant) as connection:
            log = await stream_log(connection, tenant, student_id, standard_id, at)
        key = StudentStandardKey(tenant_id=tenant, student_id=student_id, standard_id=standard_id)
        steps = history_of(log, key, at, DEFAULT_POLICY)
        if not steps:
            raise Problem(
                404, "not-found", "No history",
                f"no events for student {student_id!r} on standard {standard_id!r}",
            )  # fmt: skip
        body = StandardHistory(
            student_id=student_id,
            standard_id=standard_id,
            method=steps[-1].policy.method,
            parameter=parameter_in_force(steps[-1].policy.method, steps[-1].policy.parameter),
            events=[history_view(step) for step in steps],
        )
        return Response(body, headers=fresh.headers())
