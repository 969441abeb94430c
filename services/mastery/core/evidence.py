"""A student-standard stream's events as evidence: attempts add it, voids and rescores correct it.

The one statement of these rules, used by the rebuild (the final evidence), the history (the
evidence after each event) and the live projector (`evidence_of_attempt`). Pure.
"""

from collections.abc import Iterable, Iterator, Mapping

import msgspec

from services.mastery.core.calculation import Evidence
from shared.contract.events.attempts import (
    AttemptRecorded,
    AttemptRescored,
    AttemptVoided,
    LatestAttemptEvent,
)

StreamEvent = tuple[int, str, LatestAttemptEvent]  # (stream version, event id, event)


class EvidenceRecord(msgspec.Struct, frozen=True, kw_only=True):
    evidence: Evidence
    event_id: str  # the attempt's own event
    voided: bool = False
    corrected_version: int = 0  # stream version of the last correction applied


def evidence_of_attempt(event: AttemptRecorded, stream_version: int) -> Evidence:
    return Evidence(
        attempt_id=event.attempt_id,
        assessed_at=event.assessed_at,
        recorded_seq=stream_version,
        status=event.status,
        score=event.score,
        points_possible=event.points_possible,
    )


def with_event(
    records: Mapping[str, EvidenceRecord], version: int, event_id: str, event: LatestAttemptEvent
) -> dict[str, EvidenceRecord]:
    """The stream's evidence after one more of its events (corrective work changes none)."""
    if isinstance(event, AttemptRecorded):
        record = EvidenceRecord(evidence=evidence_of_attempt(event, version), event_id=event_id)
        return {**records, event.attempt_id: record}
    if isinstance(event, AttemptVoided):
        record = msgspec.structs.replace(
            records[event.attempt_id], voided=True, corrected_version=version
        )
        return {**records, event.attempt_id: record}
    if isinstance(event, AttemptRescored):
        before = records[event.attempt_id]
        evidence = msgspec.structs.replace(
            before.evidence, status="scored", score=event.score,
            points_possible=event.points_possible,
        )  # fmt: skip
        record = msgspec.structs.replace(before, evidence=evidence, corrected_version=version)
        return {**records, event.attempt_id: record}
    return dict(records)


def evidence_after_each(stream: Iterable[StreamEvent]) -> Iterator[dict[str, EvidenceRecord]]:
    records: dict[str, EvidenceRecord] = {}
    for version, event_id, event in stream:
        records = with_event(records, version, event_id, event)
        yield records


def live(records: Mapping[str, EvidenceRecord]) -> list[Evidence]:
    """What calculations see: every piece of evidence that was not voided."""
    return [record.evidence for record in records.values() if not record.voided]
