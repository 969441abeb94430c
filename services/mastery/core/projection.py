"""The mastery projector as a fold: evolve(state | None, event) -> (state, emitted events). Pure.

Evidence is keyed by attempt id, so a redelivered or replayed event changes nothing; order on the
bus does not matter because the calculation orders evidence by `assessed_at`, then recorded order.
Whether mastery changed is decided here, never inferred in SQL.
"""

import uuid
from datetime import datetime

import msgspec

from services.mastery.core.calculation import (
    CalculationPolicy,
    Evidence,
    Proficiency,
    calculate,
)
from shared.events.attempts import AttemptRecorded
from shared.events.mastery import MasteryChanged

# Change ids derive from the causing event, so replays produce the same ids (and bus dedupe works).
_CHANGE_NAMESPACE = uuid.UUID("6f1f3c2e-2b61-4c41-9d0a-6d1c5a0b7e21")


class StudentStandardKey(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    standard_id: str


class StudentStandard(msgspec.Struct, frozen=True, kw_only=True):
    """The projector's state for one student on one standard."""

    key: StudentStandardKey
    evidence: tuple[Evidence, ...]
    applied_event_ids: tuple[str, ...]
    proficiency: Proficiency
    last_bus_sequence: int


class AttemptApplied(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt event as the projector sees it: the event plus where it was recorded."""

    event: AttemptRecorded
    event_id: str
    stream_version: int
    bus_sequence: int


def key_of(event: AttemptRecorded) -> StudentStandardKey:
    return StudentStandardKey(
        tenant_id=event.tenant_id, student_id=event.student_id, standard_id=event.standard_id
    )


def evolve(
    state: StudentStandard | None,
    applied: AttemptApplied,
    *,
    policy: CalculationPolicy,
    now: datetime,
) -> tuple[StudentStandard, tuple[MasteryChanged, ...]]:
    if state is not None and applied.event_id in state.applied_event_ids:
        return state, ()
    evidence = (*(state.evidence if state else ()), _evidence_of(applied))
    proficiency = calculate(evidence, policy)
    new_state = StudentStandard(
        key=key_of(applied.event),
        evidence=evidence,
        applied_event_ids=(*(state.applied_event_ids if state else ()), applied.event_id),
        proficiency=proficiency,
        last_bus_sequence=max(applied.bus_sequence, state.last_bus_sequence if state else 0),
    )
    before = state.proficiency if state else None
    if not mastery_moved(before, proficiency):
        return new_state, ()
    return new_state, (_change(before, proficiency, applied, now),)


def mastery_moved(before: Proficiency | None, after: Proficiency) -> bool:
    """A change for families and SIS: the level or the mastered flag moved, not the score."""
    level_before = before.level if before else None
    mastered_before = before.mastered if before else False
    return (level_before, mastered_before) != (after.level, after.mastered)


def _evidence_of(applied: AttemptApplied) -> Evidence:
    event = applied.event
    return Evidence(
        attempt_id=event.attempt_id,
        assessed_at=event.assessed_at,
        recorded_seq=applied.stream_version,
        status="scored",
        score=event.score,
        points_possible=event.points_possible,
    )


def _change(
    before: Proficiency | None, after: Proficiency, applied: AttemptApplied, now: datetime
) -> MasteryChanged:
    event = applied.event
    return MasteryChanged(
        tenant_id=event.tenant_id,
        student_id=event.student_id,
        standard_id=event.standard_id,
        change_id=str(uuid.uuid5(_CHANGE_NAMESPACE, applied.event_id)),
        previous_level=before.level if before else None,
        previous_mastered=before.mastered if before else False,
        level=after.level,
        level_label=after.level_label,
        mastered=after.mastered,
        score=after.score,
        method=after.method,
        caused_by_attempt_id=event.attempt_id,
        caused_by_event_id=applied.event_id,
        assessed_at=event.assessed_at,
        changed_at=now,
    )
