"""As of a time, over HTTP: the evidence recorded by then, under the policy then in force."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder
from services.attempts.adapters.standards_store import Saved, StandardsStore
from services.attempts.core.recording import (
    RecordAttempt,
    RecordCorrectiveWork,
    Refuse,
    RescoreAttempt,
    VoidAttempt,
)
from services.attempts.core.standards import DefineStandard, SetTenantPolicy
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY
from shared.contract.events.gradebook import gradebook_envelopes
from shared.contract.grading import DEFAULT_SCALE, Method
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.logs import logged_messages
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

START = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
_gradebook = gradebook_envelopes()


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


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def _rfc3339(hours: float) -> str:
    return _at(hours).isoformat().replace("+00:00", "Z")


async def _define(
    pool: asyncpg.Pool,
    bus: BusNames,
    tenant: str,
    standard: str,
    method: Method | None,
    hour: float,
) -> None:
    command = DefineStandard(
        tenant_id=tenant, standard_id=standard, title=standard, scale=DEFAULT_SCALE, method=method
    )
    assert isinstance(await StandardsStore(pool).define(command, now=_at(hour)), Saved)


async def _record(
    recorder: AttemptRecorder, tenant: str, attempt: str, score: float | None, hour: float,
    *, standard: str = "math.1", student: str = "maya",
) -> None:  # fmt: skip
    command = RecordAttempt(
        tenant_id=tenant, attempt_id=attempt, student_id=student, standard_id=standard,
        status="scored" if score is not None else "missing", score=score,
        points_possible=4 if score is not None else None, assessed_at=_at(hour - 1),
    )  # fmt: skip
    assert not isinstance(await recorder.record(command, now=_at(hour)), Refuse)


async def _mastered_then(client: AsyncTestClient[Any], auth: dict[str, str], hours: float) -> Any:
    response = await client.get(
        "/v1/students/maya/mastery", params={"as_of": _rfc3339(hours)}, headers=auth
    )
    assert response.status_code == 200, response.text
    return [(s["score"], s["mastered"], s["method"]) for s in response.json()["standards"]]


async def test_as_of_answers_under_the_policy_then_in_force_and_the_evidence_then_recorded(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    recorder = AttemptRecorder(pool)
    await _define(pool, bus, tenant, "math.1", "highest", hour=0)
    await _record(recorder, tenant, "a1", 4, hour=1)
    await _record(recorder, tenant, "a2", 2, hour=2)
    await _define(pool, bus, tenant, "math.1", "latest", hour=3)  # the switch
    void = VoidAttempt(tenant_id=tenant, attempt_id="a2", reason="wrong student")
    assert not isinstance(await recorder.void(void, now=_at(4)), Refuse)

    assert await _mastered_then(mastery, auth, 0.5) == []
    assert await _mastered_then(mastery, auth, 2.5) == [(4, True, "highest")]
    assert await _mastered_then(mastery, auth, 3) == [(2, False, "latest")]  # at: included
    assert await _mastered_then(mastery, auth, 3.5) == [(2, False, "latest")]  # void not yet
    assert await _mastered_then(mastery, auth, 4.5) == [(4, True, "latest")]

    response = await mastery.get("/v1/students/maya/standards/math.1/history", headers=auth)
    assert response.status_code == 200, response.text
    history = response.json()
    assert history["method"] == "latest"
    entries = history["events"]
    assert [(e["type"], e["stream_version"]) for e in entries] == [
        ("attempt_recorded.v2", 1), ("attempt_recorded.v2", 2), ("policy_changed", None),
        ("attempt_voided.v1", 3),
    ]  # fmt: skip
    after = [(e["proficiency"]["score"], e["proficiency"]["mastered"]) for e in entries]
    assert after == [(4, True), (4, True), (2, False), (4, True)]
    change = entries[2]["event"]
    assert (change["source"], change["previous_method"], change["method"]) == (
        "standard", "highest", "latest",
    )  # fmt: skip
    assert entries[2]["recorded_at"] == _rfc3339(3)

    before_switch = await mastery.get(
        "/v1/students/maya/standards/math.1/history", params={"as_of": _rfc3339(2.5)}, headers=auth
    )
    assert before_switch.status_code == 200, before_switch.text
    assert before_switch.json()["method"] == "highest"
    assert [e["type"] for e in before_switch.json()["events"]] == ["attempt_recorded.v2"] * 2


async def test_history_follows_the_tenant_default_for_a_standard_without_a_method(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    recorder, standards = AttemptRecorder(pool), StandardsStore(pool)
    await _define(pool, bus, tenant, "math.1", None, hour=0)  # no method: latest, no default yet
    await _record(recorder, tenant, "a1", 4, hour=1)
    await _record(recorder, tenant, "a2", 2, hour=2)
    policy = SetTenantPolicy(tenant_id=tenant, method="highest")
    assert not isinstance(await standards.set_policy(policy, now=_at(3)), Refuse)

    response = await mastery.get("/v1/students/maya/standards/math.1/history", headers=auth)
    assert response.status_code == 200, response.text
    entries = response.json()["events"]
    assert [(e["type"], e["proficiency"]["score"]) for e in entries] == [
        ("attempt_recorded.v2", 4), ("attempt_recorded.v2", 2), ("policy_changed", 4),
    ]  # fmt: skip
    assert entries[2]["event"]["source"] == "tenant_default"
    assert await _mastered_then(mastery, auth, 2.5) == [(2, False, "latest")]
    assert await _mastered_then(mastery, auth, 3.5) == [(4, True, "highest")]


async def test_as_of_now_is_the_live_read_model(
    pool: asyncpg.Pool, bus: BusNames, mastery: AsyncTestClient[Any]
) -> None:
    tenant, auth = await new_tenant(pool)
    recorder, standards = AttemptRecorder(pool), StandardsStore(pool)
    await _define(pool, bus, tenant, "math.1", "decaying_average", hour=0)
    await _define(pool, bus, tenant, "math.2", None, hour=0)  # follows the tenant default
    await _record(recorder, tenant, "a1", 2, hour=1)
    await _record(recorder, tenant, "a2", 4, hour=2)
    await _record(recorder, tenant, "m1", None, hour=3)  # a marker
    await _record(recorder, tenant, "b1", 3, hour=3, standard="math.2")
    await _record(recorder, tenant, "b2", 1, hour=4, standard="math.2")
    await _record(recorder, tenant, "other", 1, hour=4, student="noor")
    rescore = RescoreAttempt(tenant_id=tenant, attempt_id="a1", score=3, reason="regraded")
    assert not isinstance(await recorder.rescore(rescore, now=_at(5)), Refuse)
    void = VoidAttempt(tenant_id=tenant, attempt_id="b2", reason="duplicate")
    assert not isinstance(await recorder.void(void, now=_at(5)), Refuse)
    work = RecordCorrectiveWork(tenant_id=tenant, student_id="maya", standard_id="math.1",
                                work_id="w1")  # fmt: skip
    assert not isinstance(await recorder.record_corrective_work(work, now=_at(6)), Refuse)
    policy = SetTenantPolicy(tenant_id=tenant, method="average")
    assert not isinstance(await standards.set_policy(policy, now=_at(6)), Refuse)
    await _project_everything(pool, bus)

    live = await mastery.get("/v1/students/maya/mastery", headers=auth)
    now = await mastery.get(
        "/v1/students/maya/mastery", params={"as_of": "2100-01-01T00:00:00+02:00"}, headers=auth
    )
    assert live.status_code == now.status_code == 200, (live.text, now.text)
    assert [s["standard_id"] for s in live.json()["standards"]] == ["math.1", "math.2"]
    assert live.json() == now.json()


async def _project_everything(pool: asyncpg.Pool, bus: BusNames) -> None:
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    for position, message in await logged_messages(pool, bus):
        await projector.handle_gradebook_events(
            [Delivered(_gradebook.decode(message.payload), position)]
        )


@pytest.mark.parametrize(
    ("as_of", "says"),
    [
        ("yesterday", "not an RFC 3339 date-time"),
        ("2026-10-01", "not an RFC 3339 date-time"),
        ("2026-10-01T09:30:00", "needs a UTC offset"),
        ("2026-10-01T09:30:00+16:00", "outside -14:00 to +14:00"),
    ],
)
async def test_a_bad_as_of_is_a_problem_naming_it(
    pool: asyncpg.Pool, mastery: AsyncTestClient[Any], as_of: str, says: str
) -> None:
    _, auth = await new_tenant(pool)
    for path in ("/v1/students/maya/mastery", "/v1/students/maya/standards/math.1/history"):
        response = await mastery.get(path, params={"as_of": as_of}, headers=auth)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "/problems/validation-error"
        assert problem["errors"][0]["field"] == "as_of"
        assert says in problem["detail"]
