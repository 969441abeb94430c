"""The attempt event family: evidence and corrections recorded by the attempts service.

One stream per tenant + student + standard. Schema evolution: additive fields keep the tag and
must have defaults; a breaking change adds a new tag and a pure upcaster from the old one, applied
at the consumer edge (`upcast`), so cores only ever see the latest version.
`attempt_recorded.v2` added `status` (markers for missing, excused and incomplete work, which
carry no score) and made `score` and `points_possible` optional. Every latest event gained `actor`
(the API key that wrote it; additive, `None` in events written before).
"""

from datetime import datetime

import msgspec

from shared.contract.actor import Actor
from shared.contract.grading import AttemptStatus


class AttemptEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str
    student_id: str
    standard_id: str


class AttemptRecordedV1(AttemptEvent, frozen=True, kw_only=True, tag="attempt_recorded.v1"):
    attempt_id: str
    score: float
    points_possible: float
    assessed_at: datetime
    recorded_at: datetime


class AttemptRecorded(AttemptEvent, frozen=True, kw_only=True, tag="attempt_recorded.v2"):
    """Evidence: a scored attempt (score, and points_possible unless on the scale) or a marker."""

    attempt_id: str
    status: AttemptStatus = "scored"
    score: float | None = None
    points_possible: float | None = None
    assessed_at: datetime
    recorded_at: datetime
    actor: Actor | None = None


class AttemptVoided(AttemptEvent, frozen=True, kw_only=True, tag="attempt_voided.v1"):
    """The attempt leaves every calculation; the original event stays in the log."""

    attempt_id: str
    reason: str
    voided_at: datetime
    actor: Actor | None = None


class AttemptRescored(AttemptEvent, frozen=True, kw_only=True, tag="attempt_rescored.v1"):
    """The attempt counts with this score from now on; the original event stays in the log."""

    attempt_id: str
    score: float
    points_possible: float | None = None
    reason: str
    rescored_at: datetime
    actor: Actor | None = None


class CorrectiveWorkRecorded(
    AttemptEvent, frozen=True, kw_only=True, tag="corrective_work_recorded.v1"
):
    """Corrective learning done before a reassessment (required by some standards' policy)."""

    work_id: str
    note: str | None = None
    reference: str | None = None
    recorded_at: datetime
    actor: Actor | None = None


AnyAttemptEvent = (
    AttemptRecordedV1 | AttemptRecorded | AttemptVoided | AttemptRescored | CorrectiveWorkRecorded
)
LatestAttemptEvent = AttemptRecorded | AttemptVoided | AttemptRescored | CorrectiveWorkRecorded

# The subject kind of each event: attempts.<tenant>.<kind>.
ATTEMPTS_SUBJECT_KIND: dict[type, str] = {
    AttemptRecordedV1: "recorded",
    AttemptRecorded: "recorded",
    AttemptVoided: "voided",
    AttemptRescored: "rescored",
    CorrectiveWorkRecorded: "corrective_work",
}


def upcast(event: AnyAttemptEvent) -> LatestAttemptEvent:
    """Any version in, the latest version out. Pure."""
    if isinstance(event, AttemptRecordedV1):
        return AttemptRecorded(
            tenant_id=event.tenant_id,
            student_id=event.student_id,
            standard_id=event.standard_id,
            attempt_id=event.attempt_id,
            status="scored",
            score=event.score,
            points_possible=event.points_possible,
            assessed_at=event.assessed_at,
            recorded_at=event.recorded_at,
        )
    return event
