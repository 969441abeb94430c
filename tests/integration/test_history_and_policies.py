"""History with the proficiency after each event, and recalculation when a policy changes."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.adapters.standards_store import StandardsStore
from services.attempts.core.recording import RecordAttempt, Refuse, RescoreAttempt, VoidAttempt
from services.attempts.core.standards import SetTenantPolicy
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.gradebook import gradebook_envelopes
from shared.contract.events.mastery import AnyMasteryEvent
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.logs import logged_messages
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import define_standard, new_tenant

NOW = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)
_gradebook = gradebook_envelopes()
_mastery = EnvelopeCodec[AnyMasteryEvent](AnyMasteryEvent)


@pytest.fixture
async def mastery(
    database_url: str, servers: Servers, bus: BusNames
) -> AsyncIterator[AsyncTestClient[Any]]:
    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_app(config)) as client:
        yield client


async def _record(recorder: AttemptRecorder, tenant: str, attempt_id: str,
                  score: float | None, day: int) -> None:  # fmt: skip
    command = RecordAttempt(
        tenant_id=tenant, attempt_id=attempt_id, student_id="maya", standard_id="math.1",
        status="scored" if score is not None else "missing", score=score,
        points_possible=4 if score is not None else None,
        assessed_at=NOW - timedelta(days=30 - day),
    )  # fmt: skip
    assert not isinstance(await recorder.record(command, now=NOW), Refuse)


async def test_history_shows_every_event_with_the_proficiency_after_it(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant, "math.1")
    recorder = AttemptRecorder(pool)
    await _record(recorder, tenant, "a1", 2, day=1)
    await _record(recorder, tenant, "a2", 4, day=2)
    await recorder.void(VoidAttempt(tenant_id=tenant, attempt_id="a2", reason="copied"), now=NOW)
    rescore = RescoreAttempt(tenant_id=tenant, attempt_id="a1", score=3, points_possible=4,
                             reason="rubric misread")  # fmt: skip
    await recorder.rescore(rescore, now=NOW)
    await _record(recorder, tenant, "m1", None, day=3)

    response = await mastery.get("/v1/students/maya/standards/math.1/history", headers=auth)
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    assert [event["type"] for event in events] == [
        "attempt_recorded.v2", "attempt_recorded.v2", "attempt_voided.v1",
        "attempt_rescored.v1", "attempt_recorded.v2",
    ]  # fmt: skip
    after = [(e["proficiency"]["score"], e["proficiency"]["mastered"]) for e in events]
    assert after == [(2, False), (4, True), (2, False), (3, True), (3, True)]
    assert events[4]["event"]["status"] == "missing"
    assert [event["stream_version"] for event in events] == [1, 2, 3, 4, 5]
    unknown = await mastery.get("/v1/students/nobody/standards/math.1/history", headers=auth)
    assert unknown.status_code == 404


async def test_current_mastery_shows_missing_work_as_a_marker_never_a_zero(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant, "math.1", method="average")
    recorder = AttemptRecorder(pool)
    await _record(recorder, tenant, "a1", 3, day=1)
    await _record(recorder, tenant, "m1", None, day=2)  # missing work
    await _record(recorder, tenant, "a2", 4, day=3)
    await _project_new_events(pool, MasteryProjector(pool, bus, FALLBACK_POLICY), 0, bus)
    response = await mastery.get("/v1/students/maya/mastery", headers=auth)
    assert response.status_code == 200, response.text
    [standard] = response.json()["standards"]
    assert (standard["score"], standard["evidence_count"], standard["method"]) == (
        3.5,
        2,
        "average",
    )
    assert [(m["attempt_id"], m["status"]) for m in standard["markers"]] == [("m1", "missing")]
    assert "(3 + 4) / 2 = 3.5" in standard["explanation"]


async def _project_new_events(
    pool: asyncpg.Pool, projector: MasteryProjector, seen: int, bus: BusNames
) -> int:
    rows = await logged_messages(pool, bus, after=seen)
    for position, message in rows:
        delivered = Delivered(_gradebook.decode(message.payload), position)
        await projector.handle_gradebook_events([delivered])
    return max((position for position, _ in rows), default=seen)


async def _changes(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    rows = await pool.fetch("SELECT payload FROM mastery_changes ORDER BY position")
    events = [_mastery.decode(row["payload"]).data for row in rows]
    return [(event.score, event.mastered, event.reason) for event in events]


async def test_a_policy_change_recalculates_the_standard_and_says_why(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await define_standard(pool, bus, "school", "math.1")  # no method: the tenant default
    recorder = AttemptRecorder(pool)
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    await _record(recorder, "school", "a1", 4, day=1)
    await _record(recorder, "school", "a2", 2, day=2)
    seen = await _project_new_events(pool, projector, 0, bus)
    assert await pool.fetchval("SELECT score FROM proficiencies") == 2  # latest

    standards = StandardsStore(pool)
    policy = SetTenantPolicy(tenant_id="school", method="highest")
    assert not isinstance(await standards.set_policy(policy, now=NOW), Refuse)
    seen = await _project_new_events(pool, projector, seen, bus)
    assert await pool.fetchval("SELECT score FROM proficiencies") == 4  # highest, by default

    await define_standard(pool, bus, "school", "math.1", method="average")
    await _project_new_events(pool, projector, seen, bus)
    state = await pool.fetchrow("SELECT score, method, mastered FROM proficiencies")
    assert state is not None
    assert tuple(state.values()) == (3, "average", True)
    # Each recalculation that moves the level is a change, and says it came from the policy.
    assert await _changes(pool) == [
        (4, True, "evidence"),
        (2, False, "evidence"),
        (4, True, "policy"),
        (3, True, "policy"),
    ]


async def test_a_redelivered_older_rescore_cannot_undo_a_newer_one(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    await define_standard(pool, bus, "school", "math.1")
    recorder = AttemptRecorder(pool)
    await _record(recorder, "school", "a1", 1, day=1)
    for score in (2, 4):
        rescore = RescoreAttempt(tenant_id="school", attempt_id="a1", score=score,
                                 points_possible=4, reason="regraded")  # fmt: skip
        await recorder.rescore(rescore, now=NOW)
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    await _project_new_events(pool, projector, 0, bus)
    assert await pool.fetchval("SELECT score FROM proficiencies") == 4
    position, message = next(
        (position, message)
        for position, message in await logged_messages(pool, bus)
        if message.subject.endswith(".rescored")
    )
    envelope = _gradebook.decode(message.payload)
    await projector.handle_gradebook_events([Delivered(envelope, position)])
    assert await pool.fetchval("SELECT score FROM proficiencies") == 4
    assert (
        msgspec.json.decode(await pool.fetchval("SELECT state::text FROM proficiencies"))[
            "standing"
        ]["score"]
        == 4
    )
