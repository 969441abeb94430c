"""Pure pieces: family emails, envelopes, keys, stream ids, validation messages."""

from datetime import UTC, datetime

import msgspec
import pytest

from shared.contract.cloudevents import (
    CloudEvent,
    EnvelopeCodec,
    PoisonMessage,
    check_content_type,
    cloudevent_type,
)
from shared.contract.events.attempts import AnyAttemptEvent, AttemptRecorded
from shared.contract.ids import stream_id
from shared.platform.http import _field_error
from shared.platform.tenancy import parse_key

NOW = datetime(2026, 10, 10, 12, 0, tzinfo=UTC)


def _envelope(tenant: str) -> CloudEvent[AnyAttemptEvent]:
    event = AttemptRecorded(
        tenant_id="school",
        student_id="maya",
        standard_id="math.1",
        attempt_id="a1",
        score=3,
        points_possible=4,
        assessed_at=NOW,
        recorded_at=NOW,
    )
    return CloudEvent(
        id="e1",
        source="/t",
        type=cloudevent_type(event),
        subject="s",
        time=NOW,
        tenantid=tenant,
        streamversion=1,
        data=event,
    )


def test_envelope_round_trip_and_type_from_tag() -> None:
    codec = EnvelopeCodec[AnyAttemptEvent](AnyAttemptEvent)
    envelope = _envelope("school")
    assert envelope.type == "org.mastery.attempt_recorded.v2"
    assert codec.decode(codec.encode(envelope)) == envelope


def test_an_envelope_without_a_streamversion_is_never_encoded_but_still_decoded() -> None:
    codec = EnvelopeCodec[AnyAttemptEvent](AnyAttemptEvent)
    unversioned = msgspec.structs.replace(_envelope("school"), streamversion=None)
    with pytest.raises(ValueError, match="no streamversion"):
        codec.encode(unversioned)
    # Mastery changes published before they were numbered carry `"streamversion": null`.
    legacy = msgspec.json.encode(unversioned)
    assert codec.decode(legacy).streamversion is None


@pytest.mark.parametrize(
    ("content_type", "accepted"),
    [
        (None, True),  # published before the header was sent
        ("application/cloudevents+json", True),
        ("application/cloudevents+json; charset=utf-8", True),
        ("application/json", False),  # binary mode: the body is only the data
        ("application/cloudevents-batch+json", False),
    ],
)
def test_only_structured_cloudevents_json_is_accepted(
    content_type: str | None, accepted: bool
) -> None:
    if accepted:
        check_content_type(content_type)
    else:
        with pytest.raises(PoisonMessage, match="Content-Type"):
            check_content_type(content_type)


@pytest.mark.parametrize("payload", [b"", b"{}", b'{"id": 1}'])
def test_undecodable_payloads_are_poison(payload: bytes) -> None:
    with pytest.raises(PoisonMessage):
        EnvelopeCodec(AnyAttemptEvent).decode(payload)


def test_tenant_mismatch_between_envelope_and_data_is_poison() -> None:
    codec = EnvelopeCodec[AnyAttemptEvent](AnyAttemptEvent)
    with pytest.raises(PoisonMessage, match="tenant mismatch"):
        codec.decode(codec.encode(_envelope("other-school")))


def test_keys_parse_only_in_their_shape() -> None:
    assert parse_key("mk_abc123_secret_with_underscores") == ("abc123", "secret_with_underscores")
    assert parse_key("mk__secret") is None
    assert parse_key("xx_abc_secret") is None


def test_stream_ids_cannot_collide() -> None:
    assert stream_id("t", "a", "b") != stream_id("t", "a/b", "")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"message": "Object missing required field `score`", "key": "data"}, "score"),
        ({"message": "Object contains unknown field `x`", "key": "data"}, "x"),
        ({"message": "Expected `str`, got `int` - at `$.guardians[0].email`", "key": "data"},
         "guardians[0].email"),
        ({"message": "Expected `float`", "key": "score"}, "score"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(entry: dict[str, str], field: str) -> None:
    assert _field_error(entry).field == field
