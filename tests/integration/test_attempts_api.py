"""POST /v1/attempts against a real PostgreSQL: idempotency, conflicts, validation, tenancy."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters.recorder import AttemptRecorder, Recorded
from services.attempts.app import create_app
from services.attempts.config import AttemptsConfig
from services.attempts.core.recording import RecordAttempt
from shared.platform.bus import BusNames
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import attempt_events_sql, define_standard, new_tenant

ATTEMPT = {
    "attempt_id": "quiz-7-maya",
    "student_id": "maya",
    "standard_id": "math.fractions",
    "score": 3,
    "points_possible": 4,
    "assessed_at": "2026-10-01T09:30:00Z",
}


@pytest.fixture
async def client(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames
) -> AsyncIterator[AsyncTestClient[Any]]:
    config = AttemptsConfig(
        database_url=service_url(database_url, "attempts"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_app(config)) as test_client:
        yield test_client


async def test_first_post_is_201_and_appends_event_and_outbox_row(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    response = await client.post("/v1/attempts", json=ATTEMPT, headers=auth)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["attempt_id"] == ATTEMPT["attempt_id"]
    assert body["stream_version"] == 1
    event = await pool.fetchrow(
        "SELECT * FROM attempt_events WHERE event_id = $1::uuid", body["event_id"]
    )
    assert event is not None
    assert event["tenant_id"] == tenant
    assert event["stream_id"] == f"{tenant}/maya/math.fractions"
    assert event["event_type"] == "attempt_recorded.v2"


async def test_same_attempt_id_and_body_returns_200_with_same_body_and_stores_nothing(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    first = await client.post("/v1/attempts", json=ATTEMPT, headers=auth)
    events_after_first = await pool.fetchval(attempt_events_sql())
    again = await client.post("/v1/attempts", json=ATTEMPT, headers=auth)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert await pool.fetchval(attempt_events_sql()) == events_after_first == 1


async def test_known_attempt_id_with_other_body_is_409_problem(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    await client.post("/v1/attempts", json=ATTEMPT, headers=auth)
    response = await client.post("/v1/attempts", json={**ATTEMPT, "score": 2}, headers=auth)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/attempt-id-conflict"
    assert await pool.fetchval(attempt_events_sql()) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"score": "three"}, "score"),
        ({"score": -1}, "score"),
        ({"score": 5}, "score"),
        ({"points_possible": 0}, "points_possible"),
        ({"assessed_at": "yesterday"}, "assessed_at"),
        ({"assessed_at": "2026-10-01T09:30:00"}, "assessed_at"),
        ({"assessed_at": "2999-01-01T00:00:00Z"}, "assessed_at"),
        ({"student_id": ""}, "student_id"),
        ({"unexpected": 1}, "unexpected"),
        ({"attempt_id": None}, "attempt_id"),
    ],
)
async def test_bad_bodies_get_422_problem_naming_the_field_and_store_nothing(
    client: AsyncTestClient[Any],
    pool: asyncpg.Pool,
    change: dict[str, object],
    field: str,
    bus: BusNames,
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    response = await client.post("/v1/attempts", json={**ATTEMPT, **change}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 422
    assert [error["field"] for error in problem["errors"]] == [field]
    assert await pool.fetchval(attempt_events_sql()) == 0


async def test_missing_field_is_named(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    body = {key: value for key, value in ATTEMPT.items() if key != "standard_id"}
    response = await client.post("/v1/attempts", json=body, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "standard_id"


async def test_malformed_json_is_400_problem(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    response = await client.post(
        "/v1/attempts",
        content=b"{not json",
        headers={**auth, "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer ", "Bearer mk_nope_nope", "Basic dXNlcjpwYXNz", "mk_x_y"]
)
async def test_missing_or_wrong_key_is_401_problem(
    client: AsyncTestClient[Any], authorization: str | None, pool: asyncpg.Pool
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/v1/attempts", json=ATTEMPT, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await pool.fetchval(attempt_events_sql()) == 0


async def test_revoked_key_is_refused(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    await pool.execute("UPDATE api_keys SET revoked_at = now()")
    response = await client.post("/v1/attempts", json=ATTEMPT, headers=auth)
    assert response.status_code == 401


async def test_same_attempt_id_in_two_tenants_are_two_attempts(
    client: AsyncTestClient[Any], pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant_a, auth_a = await new_tenant(pool, "a")
    await define_standard(pool, bus, tenant_a)
    tenant_b, auth_b = await new_tenant(pool, "b")
    await define_standard(pool, bus, tenant_b)
    first = await client.post("/v1/attempts", json=ATTEMPT, headers=auth_a)
    second = await client.post("/v1/attempts", json={**ATTEMPT, "score": 1}, headers=auth_b)
    assert (first.status_code, second.status_code) == (201, 201)
    tenants = await pool.fetch(attempt_events_sql("tenant_id") + " ORDER BY tenant_id")
    assert [row["tenant_id"] for row in tenants] == sorted([tenant_a, tenant_b])


def _command(tenant: str, attempt_id: str) -> RecordAttempt:
    return RecordAttempt(
        tenant_id=tenant,
        attempt_id=attempt_id,
        student_id="maya",
        standard_id="math.fractions",
        score=3,
        points_possible=4,
        assessed_at=datetime(2026, 10, 1, tzinfo=UTC),
    )


async def test_concurrent_appends_to_one_stream_get_distinct_consecutive_versions(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    store = AttemptRecorder(pool)
    await define_standard(pool, bus, "school")
    now = datetime.now(UTC)
    results = await asyncio.gather(
        *(store.record(_command("school", f"race-{n}"), now=now) for n in range(8))
    )
    versions = sorted(
        result.receipt.stream_version for result in results if isinstance(result, Recorded)
    )
    assert versions == list(range(1, 9))


async def test_concurrent_duplicates_store_one_event(pool: asyncpg.Pool, bus: BusNames) -> None:
    store = AttemptRecorder(pool)
    await define_standard(pool, bus, "school")
    now = datetime.now(UTC)
    results = await asyncio.gather(
        *(store.record(_command("school", "dup"), now=now) for _ in range(8))
    )
    outcomes = sorted(result.outcome for result in results if isinstance(result, Recorded))
    assert outcomes == ["created"] + ["replayed"] * 7
    assert await pool.fetchval(attempt_events_sql()) == 1
