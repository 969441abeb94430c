"""The mastery event family: what SIS integrations and the notifier subscribe to.

A change is emitted only when the proficiency level or the mastered flag moves; a score moving
inside a level is not a change.
"""

from datetime import datetime

import msgspec


class ReassessmentOutlook(msgspec.Struct, frozen=True, kw_only=True):
    """What the standard's reassessment rules leave open to the student after the change."""

    # The reassessments (scored attempts after the first that still count) made so far.
    reassessments_used: int
    # The standard's limit on reassessments; None: no limit.
    max_reassessments: int | None
    # The standard accepts a reassessment only after corrective work recorded since the
    # previous attempt.
    corrective_work_required: bool


class MasteryEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str
    student_id: str
    standard_id: str


class MasteryChanged(MasteryEvent, frozen=True, kw_only=True, tag="mastery_changed.v1"):
    change_id: str
    previous_level: float | None
    previous_mastered: bool
    level: float | None
    level_label: str | None
    mastered: bool
    score: float | None
    method: str
    caused_by_attempt_id: str
    caused_by_event_id: str
    assessed_at: datetime
    changed_at: datetime
    # Added compatibly: "evidence" (a new attempt), "correction" (a void or rescore) or "policy"
    # (the standard's calculation changed; caused_by_attempt_id is then the newest evidence).
    reason: str = "evidence"
    # Added compatibly, for SIS integrations: the standard as the projector knew it when the
    # change was made (both null when the student-standard's standard was never defined), and
    # the standing before the change (null before any evidence). Absent in earlier messages.
    standard_title: str | None = None
    case_guid: str | None = None
    previous_score: float | None = None
    previous_level_label: str | None = None
    # Added compatibly: what the standard's reassessment rules leave open after the change
    # (null when the standard was never defined). Absent in earlier messages.
    reassessment: ReassessmentOutlook | None = None


AnyMasteryEvent = MasteryChanged
