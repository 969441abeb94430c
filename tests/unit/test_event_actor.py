"""`actor` is an additive field: events written before it decode (as None), new ones carry it."""

import msgspec
import pytest

from shared.contract.actor import Actor
from shared.contract.events.gradebook import decode_gradebook_event

_BASE = '"tenant_id":"t","student_id":"s","standard_id":"m"'
BEFORE_ACTORS = [
    '{"type":"attempt_recorded.v1",' + _BASE + ',"attempt_id":"a","score":3,'
    '"points_possible":4,"assessed_at":"2026-01-01T00:00:00Z","recorded_at":"2026-01-01T00:00:00Z"}',
    '{"type":"attempt_recorded.v2",' + _BASE + ',"attempt_id":"a","status":"missing",'
    '"assessed_at":"2026-01-01T00:00:00Z","recorded_at":"2026-01-01T00:00:00Z"}',
    '{"type":"attempt_voided.v1",' + _BASE + ',"attempt_id":"a","reason":"r",'
    '"voided_at":"2026-01-01T00:00:00Z"}',
    '{"type":"attempt_rescored.v1",' + _BASE + ',"attempt_id":"a","score":2,"reason":"r",'
    '"rescored_at":"2026-01-01T00:00:00Z"}',
    '{"type":"corrective_work_recorded.v1",' + _BASE + ',"work_id":"w",'
    '"recorded_at":"2026-01-01T00:00:00Z"}',
    '{"type":"standard_defined.v1","tenant_id":"t","standard_id":"m","title":"M",'
    '"scale":{"levels":[{"value":1,"label":"L","min_score":0}],"mastery_threshold":1,'
    '"minimum":0,"maximum":4},"defined_at":"2026-01-01T00:00:00Z"}',
    '{"type":"tenant_policy_set.v1","tenant_id":"t","method":"latest",'
    '"allowed_methods":["latest"],"set_at":"2026-01-01T00:00:00Z"}',
]


@pytest.mark.parametrize("data", BEFORE_ACTORS, ids=lambda data: data.split('"')[3])
def test_an_event_written_before_actors_decodes_without_one(data: str) -> None:
    assert decode_gradebook_event(data).actor is None


@pytest.mark.parametrize("data", BEFORE_ACTORS[1:], ids=lambda data: data.split('"')[3])
def test_a_new_event_carries_its_actor_through_the_log(data: str) -> None:
    actor = Actor(key_id="k1", label="SIS sync")
    event = msgspec.structs.replace(decode_gradebook_event(data), actor=actor)
    assert decode_gradebook_event(msgspec.json.encode(event)).actor == actor
