"""Deciding what recording an attempt means, given what the store already holds. Pure."""

from datetime import datetime, timedelta

import msgspec

from shared.events.attempts import AttemptRecorded

# Clocks in classrooms drift; evidence dated slightly ahead of the server is still accepted.
FUTURE_SKEW = timedelta(minutes=5)


class RecordAttempt(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    attempt_id: str
    student_id: str
    standard_id: str
    score: float
    points_possible: float
    assessed_at: datetime


class Accept(msgspec.Struct, frozen=True, kw_only=True):
    event: AttemptRecorded


class Replay(msgspec.Struct, frozen=True, kw_only=True):
    """The same attempt id with the same body: answer as before, store nothing."""


class Refuse(msgspec.Struct, frozen=True, kw_only=True):
    status: int
    slug: str
    title: str
    detail: str
    field: str | None = None


Decision = Accept | Replay | Refuse


def decide_record(
    command: RecordAttempt, prior: RecordAttempt | None, *, now: datetime
) -> Decision:
    if prior is not None:
        if prior == command:
            return Replay()
        return Refuse(
            status=409,
            slug="attempt-id-conflict",
            title="Attempt id already used",
            detail=f"attempt_id {command.attempt_id!r} was recorded with a different body; "
            "use a new attempt_id for new evidence",
        )
    refusal = _invalid(command, now)
    if refusal is not None:
        return refusal
    return Accept(
        event=AttemptRecorded(
            tenant_id=command.tenant_id,
            student_id=command.student_id,
            standard_id=command.standard_id,
            attempt_id=command.attempt_id,
            score=command.score,
            points_possible=command.points_possible,
            assessed_at=command.assessed_at,
            recorded_at=now,
        )
    )


def _invalid(command: RecordAttempt, now: datetime) -> Refuse | None:
    if command.score > command.points_possible:
        return _unprocessable(
            "score", f"score {command.score:g} exceeds points_possible {command.points_possible:g}"
        )
    if command.assessed_at > now + FUTURE_SKEW:
        return _unprocessable(
            "assessed_at",
            f"assessed_at {command.assessed_at.isoformat()} is in the future "
            f"(more than {int(FUTURE_SKEW.total_seconds() // 60)} minutes ahead of the server)",
        )
    return None


def _unprocessable(field: str, detail: str) -> Refuse:
    return Refuse(
        status=422,
        slug="validation-error",
        title="The request is not valid",
        detail=f"{field}: {detail}",
        field=field,
    )


class AttemptReceipt(msgspec.Struct, frozen=True, kw_only=True):
    """What the API answers for a recorded attempt; stored so a replay answers identically."""

    attempt_id: str
    event_id: str
    student_id: str
    standard_id: str
    score: float
    points_possible: float
    assessed_at: datetime
    recorded_at: datetime
    stream_version: int


def receipt_for(event: AttemptRecorded, *, event_id: str, stream_version: int) -> AttemptReceipt:
    return AttemptReceipt(
        attempt_id=event.attempt_id,
        event_id=event_id,
        student_id=event.student_id,
        standard_id=event.standard_id,
        score=event.score,
        points_possible=event.points_possible,
        assessed_at=event.assessed_at,
        recorded_at=event.recorded_at,
        stream_version=stream_version,
    )
