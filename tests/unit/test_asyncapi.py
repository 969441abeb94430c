"""docs/asyncapi.yaml is the generator's output, and its schemas say what the encoders send."""

import typing
from datetime import UTC, datetime

import msgspec
import pytest

from devtools.asyncapi import ASYNCAPI_VERSION, document, render
from shared.contract.cloudevents import CONTENT_TYPE, CloudEvent, EnvelopeCodec, cloudevent_type
from shared.contract.events.gradebook import AnyGradebookEvent
from shared.contract.events.mastery import AnyMasteryEvent, MasteryChanged
from tests.support.asyncapi import DOCUMENT, load_document, message_schemas

NOW = datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
HEADERS = {"Content-Type": CONTENT_TYPE, "Nats-Msg-Id": "c-1"}


def test_the_checked_in_document_is_the_generators_output() -> None:
    assert DOCUMENT.read_text() == render(), (
        "regenerate: python -m devtools.asyncapi > docs/asyncapi.yaml"
    )


def test_every_event_of_every_family_is_a_message_labelled_with_the_content_type_sent() -> None:
    loaded = load_document()
    assert loaded == document()
    assert loaded["asyncapi"] == ASYNCAPI_VERSION == "3.1.0"
    events = [*typing.get_args(AnyGradebookEvent), AnyMasteryEvent]
    messages = message_schemas(loaded)
    for event in events:
        tag = event.__struct_config__.tag
        assert f"org.mastery.{tag}" in messages, f"{event.__name__} has no message"
    assert {schema.content_type for schema in messages.values()} == {CONTENT_TYPE}


def _change(**fields: object) -> MasteryChanged:
    defaults: dict[str, object] = {
        "tenant_id": "school", "student_id": "lee", "standard_id": "math.ratio",
        "change_id": "c-1", "previous_level": None, "previous_mastered": False, "level": 3,
        "level_label": "Proficient", "mastered": True, "score": 3, "method": "latest",
        "caused_by_attempt_id": "a-1", "caused_by_event_id": "e-1", "assessed_at": NOW,
        "changed_at": NOW, "standard_title": "Ratios", "case_guid": None,
    }  # fmt: skip
    return MasteryChanged(**{**defaults, **fields})  # type: ignore[arg-type]


def _encoded(change: MasteryChanged, streamversion: int) -> object:
    envelope = CloudEvent[AnyMasteryEvent](
        id=change.change_id, source="/services/mastery", type=cloudevent_type(change),
        subject="school/lee/math.ratio", time=NOW, tenantid="school",
        streamversion=streamversion, data=change,
    )  # fmt: skip
    return msgspec.json.decode(EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent).encode(envelope))


def test_an_encoded_change_is_valid_and_the_schema_refuses_what_the_encoders_never_send() -> None:
    schema = message_schemas(load_document())["org.mastery.mastery_changed.v1"]
    payload = _encoded(_change(), 1)
    assert schema.problems(HEADERS, payload) == []
    assert isinstance(payload, dict)
    legacy = {**payload, "streamversion": None}
    assert schema.problems(HEADERS, legacy) == [
        "payload at ['streamversion']: null is not of type \"integer\""
    ]
    binary_mode = {**HEADERS, "Content-Type": "application/json"}
    assert len(schema.problems(binary_mode, payload)) == 1
    wrong_type = {**payload, "type": "org.mastery.attempt_recorded.v2"}
    assert len(schema.problems(HEADERS, wrong_type)) == 1
    not_a_time = {**payload, "data": {**payload["data"], "changed_at": "yesterday"}}
    assert len(schema.problems(HEADERS, not_a_time)) == 1


@pytest.mark.parametrize("field", ["standard_title", "case_guid", "previous_level_label"])
def test_the_new_context_fields_are_typed_in_the_document(field: str) -> None:
    schema = message_schemas(load_document())["org.mastery.mastery_changed.v1"]
    payload = _encoded(_change(), 2)
    assert isinstance(payload, dict)
    broken = {**payload, "data": {**payload["data"], field: 7}}
    assert len(schema.problems(HEADERS, broken)) >= 1
