"""What the mastery API answers about evidence: views of its own, never an event or a core value.

Views are filled by field name (`msgspec.convert` with `from_attributes`), so a field an event or
the core gains stays out of the API until a view names it.
"""

from datetime import datetime
from typing import Literal

import msgspec

from services.mastery.core.calculation import Proficiency
from services.mastery.core.student_standard import StudentStandardKey
from services.mastery.core.timeline import PolicyChange, Step
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
    LatestAttemptEvent,
)
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import AttemptStatus


class MarkerOut(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    status: AttemptStatus
    assessed_at: datetime


class ProficiencyOut(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None
    method: str
    parameter: float | None  # in force: the method's default when none was given
    evidence_count: int
    plain_average: float | None
    steps: tuple[str, ...]
    markers: tuple[MarkerOut, ...]


# One event of a student-standard stream. `type` tells them apart; its values are the API's own
# names (the ones clients have always seen), not whatever tag the event carries now.
class StreamEventOut(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str
    student_id: str
    standard_id: str


class RecordedOut(StreamEventOut, frozen=True, kw_only=True, tag="attempt_recorded.v2"):
    attempt_id: str
    status: AttemptStatus
    score: float | None
    points_possible: float | None
    assessed_at: datetime
    recorded_at: datetime


class VoidedOut(StreamEventOut, frozen=True, kw_only=True, tag="attempt_voided.v1"):
    attempt_id: str
    reason: str
    voided_at: datetime


class RescoredOut(StreamEventOut, frozen=True, kw_only=True, tag="attempt_rescored.v1"):
    attempt_id: str
    score: float
    points_possible: float | None
    reason: str
    rescored_at: datetime


class CorrectiveWorkOut(
    StreamEventOut, frozen=True, kw_only=True, tag="corrective_work_recorded.v1"
):
    work_id: str
    note: str | None
    reference: str | None
    recorded_at: datetime


class PolicyChangedOut(StreamEventOut, frozen=True, kw_only=True, tag="policy_changed"):
    """The policy in force on the standard changed: the standard's own definition, or the
    tenant's default for a standard without a method of its own (`source`)."""

    source: Literal["standard", "tenant_default"]
    previous_method: str
    previous_parameter: float | None
    previous_mastery_threshold: float
    method: str
    parameter: float | None
    mastery_threshold: float
    changed_at: datetime


EventOut = RecordedOut | VoidedOut | RescoredOut | CorrectiveWorkOut | PolicyChangedOut


class ProficiencyAfterOut(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    evidence_count: int


class ActorOut(msgspec.Struct, frozen=True, kw_only=True):
    """The API key that wrote an event."""

    key_id: str
    label: str


class HistoryEntryOut(msgspec.Struct, frozen=True, kw_only=True):
    # The event's place in the student's stream; null on a `policy_changed` entry, whose event
    # belongs to the standard's or the tenant's policy stream.
    stream_version: int | None
    event_id: str
    type: str  # the event's `type`, repeated for clients that list the entries
    recorded_at: datetime
    actor: ActorOut | None  # null for events written before actors were recorded
    event: EventOut
    proficiency: ProficiencyAfterOut


def proficiency_view(proficiency: Proficiency) -> ProficiencyOut:
    return msgspec.convert(proficiency, ProficiencyOut, from_attributes=True)


def history_view(step: Step) -> HistoryEntryOut:
    logged, change = step.logged, step.policy_change
    event = logged.event
    view: EventOut
    if isinstance(event, StandardDefined | TenantPolicySet):
        assert change is not None, "a policy event is a step only when the policy changed"
        view = policy_change_view(event, change, step.key)
    else:
        view = event_view(event)
    return HistoryEntryOut(
        stream_version=None if isinstance(view, PolicyChangedOut) else logged.stream_version,
        event_id=logged.event_id,
        type=str(view.__struct_config__.tag),
        recorded_at=logged.recorded_at,
        actor=msgspec.convert(event.actor, ActorOut | None, from_attributes=True),
        event=view,
        proficiency=msgspec.convert(step.proficiency, ProficiencyAfterOut, from_attributes=True),
    )


def policy_change_view(
    event: StandardDefined | TenantPolicySet, change: PolicyChange, key: StudentStandardKey
) -> PolicyChangedOut:
    before, after = change.before, change.after
    defined = isinstance(event, StandardDefined)
    return PolicyChangedOut(
        tenant_id=event.tenant_id,
        student_id=key.student_id,
        standard_id=key.standard_id,
        source="standard" if defined else "tenant_default",
        previous_method=before.method,
        previous_parameter=before.parameter,
        previous_mastery_threshold=before.scale.mastery_threshold,
        method=after.method,
        parameter=after.parameter,
        mastery_threshold=after.scale.mastery_threshold,
        changed_at=event.defined_at if isinstance(event, StandardDefined) else event.set_at,
    )


def event_view(event: LatestAttemptEvent) -> EventOut:
    view: type[EventOut]
    if isinstance(event, AttemptRecorded):
        view = RecordedOut
    elif isinstance(event, AttemptVoided):
        view = VoidedOut
    elif isinstance(event, AttemptRescored):
        view = RescoredOut
    else:
        assert isinstance(event, CorrectiveWorkRecorded)
        view = CorrectiveWorkOut
    return msgspec.convert(event, view, from_attributes=True)
