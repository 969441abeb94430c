"""Attempt bodies and events for the scenarios: unique ids, realistic spread over streams."""

import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from services.attempts.adapters.event_store import EventRow
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.gradebook import AnyGradebookEvent
from shared.contract.events.standards import StandardDefined, standard_stream_id
from shared.contract.grading import DEFAULT_SCALE
from shared.contract.ids import stream_id

# Every standard the scenarios use; each is defined before any attempt is posted for it
# (an attempt for an unknown standard is refused).
STANDARDS = tuple(f"math.std{number}" for number in range(8))
E2E_STANDARD = "math.e2e"
_encoder = msgspec.json.Encoder()
_envelopes = EnvelopeCodec[AnyGradebookEvent](AnyGradebookEvent)


def assessed_at() -> datetime:
    """A moment safely in the past, so no attempt is refused as coming from the future."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def attempt_body(
    *, attempt_id: str, student_id: str, standard_id: str, score: int, when: datetime
) -> bytes:
    return _encoder.encode(
        {
            "attempt_id": attempt_id,
            "student_id": student_id,
            "standard_id": standard_id,
            "score": score,
            "points_possible": 4,
            "assessed_at": when,
        }
    )


def spread_attempt(prefix: str, number: int, students: int, when: datetime) -> bytes:
    """The n-th attempt of a run: students cycle, so each stream gets several attempts."""
    return attempt_body(
        attempt_id=f"{prefix}-{number}",
        student_id=f"{prefix}-student{number % students}",
        standard_id=STANDARDS[number // students % len(STANDARDS)],
        score=1 + number % 4,
        when=when,
    )


def recorded_event(tenant_id: str, prefix: str, number: int, students: int) -> AttemptRecorded:
    when = assessed_at()
    return AttemptRecorded(
        tenant_id=tenant_id,
        student_id=f"{prefix}-student{number % students}",
        standard_id=STANDARDS[number // students % len(STANDARDS)],
        attempt_id=f"{prefix}-{number}",
        score=float(1 + number % 4),
        points_possible=4.0,
        assessed_at=when,
        recorded_at=when,
    )


def standard_defined(tenant_id: str, standard_id: str) -> StandardDefined:
    """A standard as PUT /v1/standards defines it by default: the 1-4 scale, default method."""
    return StandardDefined(
        tenant_id=tenant_id, standard_id=standard_id, title=standard_id, scale=DEFAULT_SCALE,
        defined_at=assessed_at(),
    )  # fmt: skip


def event_json(event: AttemptRecorded | StandardDefined) -> bytes:
    return _encoder.encode(event)


def stream_of(event: AttemptRecorded | StandardDefined) -> str:
    if isinstance(event, StandardDefined):
        return standard_stream_id(event.tenant_id, event.standard_id)
    return stream_id(event.tenant_id, event.student_id, event.standard_id)


def event_row(
    event: AttemptRecorded | StandardDefined, *, version: int, event_id: str | None = None
) -> EventRow:
    """The `attempt_events` row the attempts service would append for this event."""
    return EventRow(
        tenant_id=event.tenant_id,
        stream_id=stream_of(event),
        stream_version=version,
        event_id=event_id or str(uuid.uuid4()),
        event_type=str(type(event).__struct_config__.tag),
        data=event_json(event).decode(),
        recorded_at=event.defined_at if isinstance(event, StandardDefined) else event.recorded_at,
    )


def envelope_bytes(
    event: AttemptRecorded | StandardDefined, *, event_id: str, stream_version: int
) -> bytes:
    """The CloudEvent the attempts relay would publish for this event."""
    return _envelopes.encode(
        CloudEvent(
            id=event_id,
            source="/services/attempts",
            type=cloudevent_type(event),
            subject=stream_of(event),
            time=event.defined_at if isinstance(event, StandardDefined) else event.recorded_at,
            tenantid=event.tenant_id,
            streamversion=stream_version,
            data=event,
        )
    )
