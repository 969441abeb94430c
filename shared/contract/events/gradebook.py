"""Everything the attempts service writes to the ATTEMPTS stream: attempts and standards."""

from shared.contract.events.attempts import (
    ATTEMPTS_SUBJECT_KIND,
    AnyAttemptEvent,
    LatestAttemptEvent,
)
from shared.contract.events.standards import STANDARDS_SUBJECT_KIND, AnyStandardEvent

AnyGradebookEvent = AnyAttemptEvent | AnyStandardEvent

SUBJECT_KIND: dict[type, str] = {**ATTEMPTS_SUBJECT_KIND, **STANDARDS_SUBJECT_KIND}


def subject_kind(event: AnyGradebookEvent) -> str:
    return SUBJECT_KIND[type(event)]


LatestGradebookEvent = LatestAttemptEvent | AnyStandardEvent
