"""The relay splices each stored event's JSON into its envelope instead of decoding and encoding
it again: what it publishes must decode to the envelope the event itself would make."""

import json
from datetime import datetime, timedelta, timezone

import msgspec
import pytest

from services.attempts.adapters.event_store import EVENT_SOURCE, relayed_log
from shared.contract.cloudevents import CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.attempts import (
    AttemptEvent,
    AttemptRecorded,
    AttemptRecordedV1,
    AttemptRescored,
    AttemptVoided,
    CorrectiveWorkRecorded,
)
from shared.contract.events.gradebook import AnyGradebookEvent, subject_kind
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import DEFAULT_SCALE
from shared.platform.bus import BusNames

# Not UTC: the envelope's time must keep the offset the event was written with.
AT = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
LATER = AT + timedelta(minutes=3)
EVENTS: list[AnyGradebookEvent] = [
    AttemptRecordedV1(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a1",
        score=3,
        points_possible=4,
        assessed_at=AT,
        recorded_at=LATER,
    ),
    AttemptRecorded(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a2",
        score=2.5,
        points_possible=4,
        assessed_at=AT,
        recorded_at=LATER,
    ),
    AttemptVoided(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a2",
        reason="wrong student",
        voided_at=AT,
    ),
    AttemptRescored(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a1",
        score=4,
        reason="regraded",
        rescored_at=AT,
    ),
    CorrectiveWorkRecorded(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        work_id="w1",
        note="retaught",
        recorded_at=AT,
    ),
    StandardDefined(
        tenant_id="school", standard_id="math.1", title="Ratios", scale=DEFAULT_SCALE, defined_at=AT
    ),
    TenantPolicySet(tenant_id="school", method="mode", allowed_methods=("mode",), set_at=AT),
]
BUS = BusNames("relay-unit")
ENVELOPES = EnvelopeCodec[AnyGradebookEvent](AnyGradebookEvent)


def _as_logged(event: AnyGradebookEvent) -> str:
    """The event's `data` as PostgreSQL hands back a jsonb column: keys reordered, spaced."""
    fields = json.loads(msgspec.json.encode(event))
    return json.dumps(dict(sorted(fields.items(), key=lambda item: (len(item[0]), item[0]))))


@pytest.mark.parametrize("event", EVENTS, ids=lambda event: type(event).__name__)
def test_the_spliced_envelope_is_the_one_the_event_makes(event: AnyGradebookEvent) -> None:
    row = {"stream_id": "school/maya/math.1", "stream_version": 7, "event_id": "e-1",
           "data": _as_logged(event)}  # fmt: skip

    [message] = relayed_log(BUS).messages([row])  # type: ignore[list-item]

    occurred = next(
        getattr(event, name)
        for name in ("recorded_at", "voided_at", "rescored_at", "defined_at", "set_at")
        if hasattr(event, name)
    )
    expected = CloudEvent(
        id="e-1", source=EVENT_SOURCE, type=cloudevent_type(event), subject="school/maya/math.1",
        time=occurred, tenantid="school", streamversion=7, data=event,
    )  # fmt: skip
    assert ENVELOPES.decode(message.payload) == expected
    assert json.loads(message.payload)["time"] == json.loads(msgspec.json.encode(occurred))
    assert (message.tenant_id, message.msg_id) == ("school", "e-1")
    if isinstance(event, AttemptEvent):  # a student's events on the student's partition
        expected_subject = BUS.student_attempts("school", event.student_id, subject_kind(event))
    else:
        expected_subject = BUS.attempts("school", subject_kind(event))
    assert message.subject == expected_subject
