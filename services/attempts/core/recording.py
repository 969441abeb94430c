"""Deciding what a write to a student-standard stream means, given what the stream holds. Pure.

Each decision is Accept (the events to append), Replay (the same request again: answer as before,
store nothing) or a refusal (`core/refusals.py`: why, in the domain's terms; nothing stored).
A command names who sent it (`actor`), and the event accepted carries it; who asks again does not
change what a request is, so a replay by another key is still a replay.
"""

from datetime import datetime, timedelta

import msgspec

from services.attempts.core.refusals import (
    Conflict,
    InvalidField,
    MethodNotAllowed,
    NotFound,
    RuleRefused,
    UndefinedStandard,
)
from services.attempts.core.stream import AttemptOnRecord, StreamState
from shared.contract.actor import Actor
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
    LatestAttemptEvent,
)
from shared.contract.events.standards import StandardDefined
from shared.contract.grading import AttemptStatus

# Clocks in classrooms drift; evidence dated slightly ahead of the server is still accepted.
FUTURE_SKEW = timedelta(minutes=5)


class RecordAttempt(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    attempt_id: str
    student_id: str
    standard_id: str
    status: AttemptStatus = "scored"
    score: float | None = None
    points_possible: float | None = None
    assessed_at: datetime
    actor: Actor | None = None


class VoidAttempt(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    attempt_id: str
    reason: str
    actor: Actor | None = None


class RescoreAttempt(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    attempt_id: str
    score: float
    points_possible: float | None = None
    reason: str
    actor: Actor | None = None


class RecordCorrectiveWork(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    student_id: str
    standard_id: str
    work_id: str
    note: str | None = None
    reference: str | None = None
    actor: Actor | None = None


class Accept(msgspec.Struct, frozen=True, kw_only=True):
    event: LatestAttemptEvent


class Replay(msgspec.Struct, frozen=True, kw_only=True):
    """The same request again: answer as before, store nothing."""


# Why nothing is stored, in the domain's terms (`core/refusals.py`).
Refuse = InvalidField | UndefinedStandard | MethodNotAllowed | RuleRefused | Conflict | NotFound
Decision = Accept | Replay | Refuse


def decide_record(
    command: RecordAttempt,
    *,
    prior: RecordAttempt | None,
    state: StreamState,
    standard: StandardDefined | None,
    now: datetime,
) -> Decision:
    if prior is not None:
        same = prior == msgspec.structs.replace(command, actor=prior.actor)
        return Replay() if same else _attempt_id_conflict(command.attempt_id)
    refusal = _invalid_evidence(command, standard, now) or _reassessment_refusal(
        command, state, standard
    )
    if refusal is not None:
        return refusal
    return Accept(
        event=AttemptRecorded(
            tenant_id=command.tenant_id,
            student_id=command.student_id,
            standard_id=command.standard_id,
            attempt_id=command.attempt_id,
            status=command.status,
            score=command.score,
            points_possible=command.points_possible,
            assessed_at=command.assessed_at,
            recorded_at=now,
            actor=command.actor,
        )
    )


def _attempt_id_conflict(attempt_id: str) -> Conflict:
    return Conflict(
        reason="attempt_id_reused",
        detail=f"attempt_id {attempt_id!r} was recorded with a different body; "
        "use a new attempt_id for new evidence",
    )


def _invalid_evidence(
    command: RecordAttempt, standard: StandardDefined | None, now: datetime
) -> InvalidField | UndefinedStandard | None:
    if standard is None:
        return UndefinedStandard(standard_id=command.standard_id)
    if command.status != "scored":
        if command.score is not None or command.points_possible is not None:
            return InvalidField(
                field="score", message=f"a {command.status!r} marker carries no score"
            )
    elif command.score is None:
        return InvalidField(field="score", message="a scored attempt needs a score")
    else:
        refusal = score_refusal(command.score, command.points_possible, standard)
        if refusal is not None:
            return refusal
    if command.assessed_at > now + FUTURE_SKEW:
        return InvalidField(
            field="assessed_at",
            message=f"assessed_at {command.assessed_at.isoformat()} is in the future "
            f"(more than {int(FUTURE_SKEW.total_seconds() // 60)} minutes ahead of the server)",
        )
    return None


def score_refusal(
    score: float, points_possible: float | None, standard: StandardDefined
) -> InvalidField | None:
    """Points must not exceed points_possible; a score without points must lie on the scale."""
    if points_possible is not None:
        if score > points_possible:
            return InvalidField(
                field="score",
                message=f"score {score:g} exceeds points_possible {points_possible:g}",
            )
        return None
    scale = standard.scale
    if not scale.minimum <= score <= scale.maximum:
        return InvalidField(
            field="score",
            message=f"score {score:g} is outside the scale of {standard.standard_id!r} "
            f"({scale.minimum:g} to {scale.maximum:g}); send points_possible for points",
        )
    return None


def _reassessment_refusal(
    command: RecordAttempt, state: StreamState, standard: StandardDefined | None
) -> RuleRefused | None:
    if command.status != "scored" or standard is None or state.assessments == 0:
        return None  # a first assessment and markers are never reassessments
    policy = standard.reassessment
    done = state.assessments - 1
    limit = policy.max_reassessments
    if limit is not None and done >= limit:
        return RuleRefused(
            rule="max_reassessments",
            detail=f"{command.student_id!r} has used {done} of {limit} reassessments on "
            f"{command.standard_id!r}",
            student_id=command.student_id,
            standard_id=command.standard_id,
        )
    if policy.corrective_work_required and not state.corrective_work_pending:
        return RuleRefused(
            rule="corrective_work_required",
            detail=f"{command.standard_id!r} accepts a reassessment only after corrective work "
            "recorded since the previous attempt",
            student_id=command.student_id,
            standard_id=command.standard_id,
        )
    return None


class AttemptLocation(msgspec.Struct, frozen=True, kw_only=True):
    """Which stream an attempt id belongs to (attempt ids are unique per tenant)."""

    student_id: str
    standard_id: str


def decide_void(
    command: VoidAttempt, attempt: AttemptOnRecord, where: AttemptLocation, now: datetime
) -> Decision:
    if not command.reason.strip():
        return InvalidField(field="reason", message="a void needs a reason")
    if attempt.voided:
        return _already_voided(command.attempt_id)
    return Accept(
        event=AttemptVoided(
            tenant_id=command.tenant_id,
            student_id=where.student_id,
            standard_id=where.standard_id,
            attempt_id=command.attempt_id,
            reason=command.reason.strip(),
            voided_at=now,
            actor=command.actor,
        )
    )


def decide_rescore(
    command: RescoreAttempt,
    attempt: AttemptOnRecord,
    where: AttemptLocation,
    standard: StandardDefined,
    now: datetime,
) -> Decision:
    if not command.reason.strip():
        return InvalidField(field="reason", message="a rescore needs a reason")
    if attempt.voided:
        return _already_voided(command.attempt_id)
    refusal = score_refusal(command.score, command.points_possible, standard)
    if refusal is not None:
        return refusal
    return Accept(
        event=AttemptRescored(
            tenant_id=command.tenant_id,
            student_id=where.student_id,
            standard_id=where.standard_id,
            attempt_id=command.attempt_id,
            score=command.score,
            points_possible=command.points_possible,
            reason=command.reason.strip(),
            rescored_at=now,
            actor=command.actor,
        )
    )


def decide_corrective_work(
    command: RecordCorrectiveWork, state: StreamState, now: datetime
) -> Decision:
    if command.work_id in state.corrective_work_ids:
        return Replay()
    return Accept(
        event=CorrectiveWorkRecorded(
            tenant_id=command.tenant_id,
            student_id=command.student_id,
            standard_id=command.standard_id,
            work_id=command.work_id,
            note=command.note,
            reference=command.reference,
            recorded_at=now,
            actor=command.actor,
        )
    )


def _already_voided(attempt_id: str) -> Conflict:
    return Conflict(
        reason="attempt_voided",
        detail=f"attempt {attempt_id!r} was voided; it cannot be voided or rescored again",
    )


class AttemptReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What the API answers for a recorded attempt; stored so a replay answers identically."""

    attempt_id: str
    event_id: str
    student_id: str
    standard_id: str
    status: AttemptStatus
    score: float | None
    points_possible: float | None
    assessed_at: datetime
    recorded_at: datetime
    stream_version: int


def receipt_for(event: AttemptRecorded, *, event_id: str, stream_version: int) -> AttemptReceipt:
    return AttemptReceipt(
        attempt_id=event.attempt_id,
        event_id=event_id,
        student_id=event.student_id,
        standard_id=event.standard_id,
        status=event.status,
        score=event.score,
        points_possible=event.points_possible,
        assessed_at=event.assessed_at,
        recorded_at=event.recorded_at,
        stream_version=stream_version,
    )
