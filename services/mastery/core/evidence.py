"""A student-standard stream's events as evidence: attempts add it, voids and rescores correct it.

The one statement of these rules, used by the live projection, the rebuild (the final evidence)
and the history (the evidence after each event). Pure.
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
Records = Mapping[str, "EvidenceRecord"]  # by attempt id


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


def record_of_attempt(event: AttemptRecorded, stream_version: int, event_id: str) -> EvidenceRecord:
    return EvidenceRecord(evidence=evidence_of_attempt(event, stream_version), event_id=event_id)


def corrected(
    record: EvidenceRecord, event: AttemptVoided | AttemptRescored, version: int
) -> EvidenceRecord | None:
    """The record after a correction, or None when a newer correction was applied already (so a
    redelivered older rescore cannot undo a newer one)."""
    if version <= record.corrected_version:
        return None
    if isinstance(event, AttemptVoided):
        return msgspec.structs.replace(record, voided=True, corrected_version=version)
    evidence = msgspec.structs.replace(
        record.evidence, status="scored", score=event.score, points_possible=event.points_possible
    )
    return msgspec.structs.replace(record, evidence=evidence, corrected_version=version)


def record_after(
    records: Records, version: int, event_id: str, event: LatestAttemptEvent
) -> EvidenceRecord | None:
    """The one record an event adds or corrects, or None when it changes no evidence: corrective
    work, an attempt already on record, a correction of an attempt not on record, or a correction
    older than the last one applied."""
    if isinstance(event, AttemptRecorded):
        return None if event.attempt_id in records else record_of_attempt(event, version, event_id)
    if isinstance(event, AttemptVoided | AttemptRescored) and event.attempt_id in records:
        return corrected(records[event.attempt_id], event, version)
    return None


def with_event(
    records: Records, version: int, event_id: str, event: LatestAttemptEvent
) -> dict[str, EvidenceRecord]:
    """The stream's evidence after one more of its events."""
    record = record_after(records, version, event_id, event)
    if record is None:
        return dict(records)
    return {**records, record.evidence.attempt_id: record}


def evidence_of_stream(stream: Iterable[StreamEvent]) -> dict[str, EvidenceRecord]:
    """The evidence a whole stream leaves (the rebuild): one dict, not one per event."""
    records: dict[str, EvidenceRecord] = {}
    for version, event_id, event in stream:
        record = record_after(records, version, event_id, event)
        if record is not None:
            records[record.evidence.attempt_id] = record
    return records


def evidence_after_each(stream: Iterable[StreamEvent]) -> Iterator[dict[str, EvidenceRecord]]:
    records: dict[str, EvidenceRecord] = {}
    for version, event_id, event in stream:
        records = with_event(records, version, event_id, event)
        yield records


def live(records: Records) -> list[Evidence]:
    """What calculations see: every piece of evidence that was not voided."""
    return [record.evidence for record in records.values() if not record.voided]
