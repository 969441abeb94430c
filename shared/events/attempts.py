"""The attempt event family: evidence recorded by the attempts service.

Schema evolution: additive fields keep the tag and must have defaults; a breaking change adds a
new tag (`attempt_recorded.v2`) and a pure upcaster from the old one, applied at the consumer edge.
"""

from datetime import datetime

import msgspec


class AttemptEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str
    student_id: str
    standard_id: str


class AttemptRecorded(AttemptEvent, frozen=True, kw_only=True, tag="attempt_recorded.v1"):
    attempt_id: str
    score: float
    points_possible: float
    assessed_at: datetime
    recorded_at: datetime


AnyAttemptEvent = AttemptRecorded

ATTEMPTS_SUBJECT_KIND = {AttemptRecorded: "recorded"}
