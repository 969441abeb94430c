"""What the attempts API answers: one view per response body, never an event or a core value.

Events evolve by their own rules (a new tag per breaking change); a view changes only when the
API does. Views are filled from the events and values by field name (`msgspec.convert` with
`from_attributes`), so a field the event gains stays out of the API until a view names it.
"""

from datetime import datetime
from typing import Literal

import msgspec

from services.attempts.adapters.problems import ProblemOut
from services.attempts.adapters.recorder import Appended
from services.attempts.adapters.records import AttemptRecord
from services.attempts.core.recording import AttemptReceipt
from shared.contract.events.attempts import (
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
    LatestAttemptEvent,
)
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import (
    AttemptStatus,
    LetterGrade,
    Method,
    ProficiencyScale,
    letter_threshold,
)


class AttemptOut(msgspec.Struct, frozen=True, kw_only=True):
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
    # The event's place in the whole attempt log (a replay: the original's). Pass it to the
    # mastery service's reads as `min_position` to read this write back.
    position: int


class BatchItemOut(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    attempt_id: str
    status: int
    receipt: AttemptOut | None = None
    problem: ProblemOut | None = None


class BatchOut(msgspec.Struct, frozen=True, kw_only=True):
    created: int
    replayed: int
    refused: int
    results: list[BatchItemOut]


# A correction or corrective work as appended. `type` tells the three apart; its values are the
# API's own names (the ones clients have always seen), not whatever tag the event carries now.
class ChangeOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str
    student_id: str
    standard_id: str


class VoidedOut(ChangeOut, frozen=True, kw_only=True, tag="attempt_voided.v1"):
    attempt_id: str
    reason: str
    voided_at: datetime


class RescoredOut(ChangeOut, frozen=True, kw_only=True, tag="attempt_rescored.v1"):
    attempt_id: str
    score: float
    points_possible: float | None
    reason: str
    rescored_at: datetime


class CorrectiveWorkOut(ChangeOut, frozen=True, kw_only=True, tag="corrective_work_recorded.v1"):
    work_id: str
    note: str | None
    reference: str | None
    recorded_at: datetime


class AppendedOut(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Literal["created", "replayed"]
    stream_version: int
    position: int  # in the attempt log: of the event appended, or of the one a replay found
    event: VoidedOut | RescoredOut | CorrectiveWorkOut | None = None


class AttemptOnRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    """An attempt as the log holds it now: status and score after its corrections (a rescore),
    whether it was voided, and each correction in the order logged."""

    attempt_id: str
    event_id: str
    student_id: str
    standard_id: str
    status: AttemptStatus
    score: float | None
    points_possible: float | None
    assessed_at: datetime
    recorded_at: datetime
    voided: bool
    position: int  # in the attempt log, of the attempt as first recorded
    corrections: list[VoidedOut | RescoredOut]


class CorrectiveWorkOnRecordOut(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    position: int
    work: CorrectiveWorkOut


class LevelOut(msgspec.Struct, frozen=True, kw_only=True):
    value: float
    label: str
    min_score: float


class ScaleOut(msgspec.Struct, frozen=True, kw_only=True):
    levels: list[LevelOut]
    mastery_threshold: float
    minimum: float
    maximum: float


class LetterOut(msgspec.Struct, frozen=True, kw_only=True):
    letter: str
    min_fraction: float | None = None
    min_score: float | None = None
    min_position: float | None = None


class EffectiveLetterOut(msgspec.Struct, frozen=True, kw_only=True):
    """A letter in force and the lowest score on the standard's scale that earns it."""

    letter: str
    min_score: float


class ReassessmentOut(msgspec.Struct, frozen=True, kw_only=True):
    max_reassessments: int | None
    corrective_work_required: bool


class StandardDefinitionOut(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    standard_id: str
    title: str
    case_guid: str | None
    scale: ScaleOut
    method: Method | None
    parameter: float | None
    floor_percent: float | None
    letters: list[LetterOut] | None
    reassessment: ReassessmentOut
    defined_at: datetime


class StandardOut(msgspec.Struct, frozen=True, kw_only=True):
    standard: StandardDefinitionOut
    effective_method: str
    effective_parameter: float | None  # null only for a method that takes none
    effective_letters: list[EffectiveLetterOut]
    version: int
    position: int  # in the attempt log, of this definition


class StandardList(msgspec.Struct, frozen=True, kw_only=True):
    standards: list[StandardDefinitionOut]


class PolicyOut(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    method: Method
    parameter: float | None
    allowed_methods: list[Method]
    letters: list[LetterOut] | None
    set_at: datetime
    position: int  # in the attempt log, of this policy


def attempt_view(receipt: AttemptReceipt, position: int) -> AttemptOut:
    fields = msgspec.structs.asdict(receipt)
    return msgspec.convert({**fields, "position": position}, AttemptOut, from_attributes=True)


def appended_view(appended: Appended) -> AppendedOut:
    return AppendedOut(
        outcome=appended.outcome,
        stream_version=appended.stream_version,
        position=appended.position,
        event=None if appended.event is None else _change_view(appended.event),
    )


def _change_view(event: LatestAttemptEvent) -> VoidedOut | RescoredOut | CorrectiveWorkOut:
    if isinstance(event, AttemptVoided):
        return msgspec.convert(event, VoidedOut, from_attributes=True)
    if isinstance(event, AttemptRescored):
        return msgspec.convert(event, RescoredOut, from_attributes=True)
    assert isinstance(event, CorrectiveWorkRecorded), "attempts are answered with a receipt"
    return msgspec.convert(event, CorrectiveWorkOut, from_attributes=True)


def attempt_record_view(record: AttemptRecord) -> AttemptOnRecordOut:
    recorded, now = record.recorded, record.now
    return AttemptOnRecordOut(
        attempt_id=recorded.attempt_id,
        event_id=record.event_id,
        student_id=recorded.student_id,
        standard_id=recorded.standard_id,
        status=now.status,
        score=now.score,
        points_possible=now.points_possible,
        assessed_at=recorded.assessed_at,
        recorded_at=recorded.recorded_at,
        voided=now.voided,
        position=record.position,
        corrections=[
            msgspec.convert(event, VoidedOut, from_attributes=True)
            if isinstance(event, AttemptVoided)
            else msgspec.convert(event, RescoredOut, from_attributes=True)
            for event in record.corrections
        ],
    )


def corrective_work_view(
    event_id: str, position: int, work: CorrectiveWorkRecorded
) -> CorrectiveWorkOnRecordOut:
    return CorrectiveWorkOnRecordOut(
        event_id=event_id,
        position=position,
        work=msgspec.convert(work, CorrectiveWorkOut, from_attributes=True),
    )


def standard_view(standard: StandardDefined) -> StandardDefinitionOut:
    return msgspec.convert(standard, StandardDefinitionOut, from_attributes=True)


def effective_letters_view(
    letters: tuple[LetterGrade, ...], scale: ProficiencyScale
) -> list[EffectiveLetterOut]:
    thresholds = [(letter_threshold(grade, scale), grade.letter) for grade in letters]
    return [
        EffectiveLetterOut(letter=letter, min_score=low) for low, letter in sorted(thresholds)[::-1]
    ]


def policy_view(policy: TenantPolicySet, position: int) -> PolicyOut:
    fields = msgspec.structs.asdict(policy)
    return msgspec.convert({**fields, "position": position}, PolicyOut, from_attributes=True)
