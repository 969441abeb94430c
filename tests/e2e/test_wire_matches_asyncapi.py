"""What the relays really publish matches docs/asyncapi.yaml, headers and payloads.

The whole system runs (HTTP -> attempts relay -> JetStream -> projector -> mastery relay, and a
roster import -> roster relay); every message it leaves on ATTEMPTS, MASTERY and ROSTERS is read
back from a real nats-server and validated against the document's schema for its CloudEvents
type.
"""

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec
import nats
import pytest
from nats.js.errors import NotFoundError

from shared.contract.cloudevents import CONTENT_TYPE
from shared.platform.bus import BusNames
from tests.support.asyncapi import load_document, message_schemas
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

STANDARD = "ela.argument"
CASE_GUID = str(uuid.UUID("9f3a1c52-1e0b-4b7e-a1f4-2c6d8e0b5a17"))


@dataclass(frozen=True)
class Captured:
    subject: str
    headers: dict[str, str]
    payload: dict[str, Any]


async def _captured(nats_url: str, stream: str) -> list[Captured]:
    """Every message of `stream`, by sequence, as the server stores it (none before it exists)."""
    client = await nats.connect(nats_url)
    try:
        js = client.jetstream()
        try:
            last = (await js.stream_info(stream)).state.last_seq
        except NotFoundError:
            return []
        stored = [await js.get_msg(stream, sequence) for sequence in range(1, last + 1)]
    finally:
        await client.close()
    return [
        Captured(
            message.subject or "",
            dict(message.headers or {}),
            msgspec.json.decode(message.data or b""),
        )
        for message in stored
    ]


STUDENT_KINDS = ("recorded", "voided", "rescored", "corrective_work")


async def _ok(response: Any) -> None:
    assert response.status_code < 300, response.text


async def _write_every_kind_of_event(system: System, auth: dict[str, str]) -> None:
    attempts = system.attempts

    def attempt(attempt_id: str, day: int, **fields: Any) -> dict[str, Any]:
        return {
            "attempt_id": attempt_id, "student_id": "maya", "standard_id": STANDARD,
            "assessed_at": f"2026-10-{day:02d}T10:00:00Z", **fields,
        }  # fmt: skip

    await _ok(await attempts.put("/v1/policy", json={"method": "latest"}, headers=auth))
    await _ok(
        await attempts.put(
            f"/v1/standards/{STANDARD}",
            json={"title": "Argument writing", "case_guid": CASE_GUID},
            headers=auth,
        )
    )
    await _ok(await attempts.post("/v1/attempts", json=attempt("a1", 1, score=2), headers=auth))
    await _ok(await attempts.post("/v1/attempts", json=attempt("a2", 8, score=4), headers=auth))
    await _ok(
        await attempts.post("/v1/attempts", json=attempt("a3", 9, status="missing"), headers=auth)
    )
    await _ok(
        await attempts.post(
            f"/v1/students/maya/standards/{STANDARD}/corrective-work",
            json={"note": "redo"},
            headers=auth,
        )
    )
    rescore = {"score": 1, "reason": "misread rubric"}
    await _ok(await attempts.post("/v1/attempts/a2/rescore", json=rescore, headers=auth))
    await _ok(
        await attempts.post("/v1/attempts/a2/void", json={"reason": "wrong student"}, headers=auth)
    )


@pytest.mark.e2e
async def test_every_published_message_is_valid_against_the_asyncapi_document(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: Any
) -> None:
    tenant, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        await _write_every_kind_of_event(system, auth)
        # Developing, then Advanced, then Beginning (the rescore), then Developing (the void).
        changes = await eventually(
            lambda: _captured(servers.nats_url, bus.mastery_stream),
            lambda found: len(found) >= 4,
            within=30,
        )
    attempts = await _captured(servers.nats_url, bus.attempts_stream)
    schemas = message_schemas(load_document())
    for message in [*attempts, *changes]:
        schema = schemas[message.payload["type"]]
        assert message.headers["Content-Type"] == CONTENT_TYPE == schema.content_type
        assert schema.problems(message.headers, message.payload) == [], message
        assert message.headers["Nats-Msg-Id"] == message.payload["id"]
    assert sorted({message.payload["type"] for message in attempts}) == [
        "org.mastery.attempt_recorded.v2", "org.mastery.attempt_rescored.v1",
        "org.mastery.attempt_voided.v1", "org.mastery.corrective_work_recorded.v1",
        "org.mastery.standard_defined.v1", "org.mastery.tenant_policy_set.v1",
    ]  # fmt: skip
    # A student's events on the student's partition, the tenant's standards and policy on its own.
    assert {message.subject for message in attempts} == {
        *(bus.student_attempts(tenant, "maya", kind) for kind in STUDENT_KINDS),
        bus.attempts(tenant, "standard_defined"),
        bus.attempts(tenant, "policy_set"),
    }
    assert [message.subject for message in changes] == [bus.mastery_changed(tenant)] * 4
    _check_the_changes_context([message.payload for message in changes], tenant)


def _check_the_changes_context(envelopes: list[dict[str, Any]], tenant: str) -> None:
    assert [envelope["streamversion"] for envelope in envelopes] == [1, 2, 3, 4]
    assert {envelope["subject"] for envelope in envelopes} == {f"{tenant}/maya/{STANDARD}"}
    data = [envelope["data"] for envelope in envelopes]
    assert {(d["standard_title"], d["case_guid"]) for d in data} == {
        ("Argument writing", CASE_GUID)
    }
    steps = [
        (d["reason"], d["previous_score"], d["previous_level_label"], d["score"], d["level_label"])
        for d in data
    ]
    assert steps == [
        ("evidence", None, None, 2, "Developing"),
        ("evidence", 2, "Developing", 4, "Advanced"),
        ("correction", 4, "Advanced", 1, "Beginning"),
        ("correction", 1, "Beginning", 2, "Developing"),
    ]
    assert [(d["previous_mastered"], d["mastered"]) for d in data] == [
        (False, False), (False, True), (True, False), (False, False),
    ]  # fmt: skip


@pytest.mark.e2e
async def test_every_roster_message_is_valid_against_the_asyncapi_document(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: Any
) -> None:
    tenant, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        imported = await system.mastery.post(
            "/v1/rosters/oneroster",
            content=zipped(sample_files(classes=1, students=2)),
            headers={**auth, "Content-Type": "application/zip"},
        )
        await _ok(imported)
        # 1 school, 2 terms, 1 class, 1 teacher, 2 students, 3 guardians, 5 enrollments.
        rosters = await eventually(
            lambda: _captured(servers.nats_url, bus.rosters_stream),
            lambda found: len(found) >= 15,
            within=30,
        )
    schemas = message_schemas(load_document())
    for message in rosters:
        schema = schemas[message.payload["type"]]
        assert message.headers["Content-Type"] == CONTENT_TYPE == schema.content_type
        assert schema.problems(message.headers, message.payload) == [], message
        assert message.headers["Nats-Msg-Id"] == message.payload["id"]
    assert {message.subject for message in rosters} == {bus.rosters(tenant)}
    assert [message.payload["streamversion"] for message in rosters] == list(range(1, 16))
    assert {message.payload["type"] for message in rosters} == {
        "org.mastery.org_defined.v1", "org.mastery.term_defined.v1",
        "org.mastery.class_defined.v1", "org.mastery.person_defined.v1",
        "org.mastery.enrollment_defined.v1",
    }  # fmt: skip
