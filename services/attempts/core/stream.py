"""What one student-standard stream holds, folded from its events: the write side's state. Pure."""

from collections.abc import Iterable
from datetime import datetime

import msgspec

from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
    LatestAttemptEvent,
)
from shared.contract.grading import AttemptStatus


class AttemptOnRecord(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    status: AttemptStatus
    score: float | None
    points_possible: float | None
    assessed_at: datetime
    voided: bool = False


class StreamState(msgspec.Struct, frozen=True, kw_only=True):
    version: int = 0
    attempts: dict[str, AttemptOnRecord] = msgspec.field(default_factory=dict)
    corrective_work_ids: frozenset[str] = frozenset()
    # Corrective work recorded since the latest scored attempt (what a reassessment may need).
    corrective_work_pending: bool = False

    @property
    def assessments(self) -> int:
        """Scored attempts that count: markers and voided attempts are not assessments."""
        return sum(
            1 for item in self.attempts.values() if item.status == "scored" and not item.voided
        )


def fold_stream(events: Iterable[LatestAttemptEvent]) -> StreamState:
    state = StreamState()
    for event in events:
        state = evolve_stream(state, event)
    return state


def evolve_stream(state: StreamState, event: LatestAttemptEvent) -> StreamState:
    version = state.version + 1
    attempts = state.attempts
    if isinstance(event, AttemptRecorded):
        attempts = {**attempts, event.attempt_id: _on_record(event)}
        scored = event.status == "scored"
        return msgspec.structs.replace(
            state,
            version=version,
            attempts=attempts,
            corrective_work_pending=state.corrective_work_pending and not scored,
        )
    if isinstance(event, AttemptVoided):
        voided = msgspec.structs.replace(attempts[event.attempt_id], voided=True)
        return msgspec.structs.replace(
            state, version=version, attempts={**attempts, event.attempt_id: voided}
        )
    if isinstance(event, AttemptRescored):
        rescored = msgspec.structs.replace(
            attempts[event.attempt_id],
            status="scored",
            score=event.score,
            points_possible=event.points_possible,
        )
        return msgspec.structs.replace(
            state, version=version, attempts={**attempts, event.attempt_id: rescored}
        )
    assert isinstance(event, CorrectiveWorkRecorded)
    return msgspec.structs.replace(
        state,
        version=version,
        corrective_work_ids=state.corrective_work_ids | {event.work_id},
        corrective_work_pending=True,
    )


def _on_record(event: AttemptRecorded) -> AttemptOnRecord:
    return AttemptOnRecord(
        attempt_id=event.attempt_id,
        status=event.status,
        score=event.score,
        points_possible=event.points_possible,
        assessed_at=event.assessed_at,
    )
