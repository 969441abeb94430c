"""A 422 names every invalid field of the body, not only the first msgspec met."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant


@pytest.fixture
async def system(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> AsyncIterator[System]:
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as running:
        yield running


async def test_an_attempt_with_four_faults_names_all_four(
    system: System, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    body = {"attempt_id": "a b", "student_id": "maya", "score": -1, "assessed_at": "soon",
            "colour": "red"}  # fmt: skip
    answer = await system.attempts.post("/v1/attempts", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    fields = [error["field"] for error in problem["errors"]]
    assert fields == ["attempt_id", "standard_id", "score", "assessed_at", "colour"]
    assert all(field in problem["detail"] for field in fields)
    assert await pool.fetchval("SELECT count(*) FROM attempt_events") == 0


async def test_a_batch_names_each_invalid_field_of_each_item(
    system: System, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    good = {"attempt_id": "q1", "student_id": "maya", "standard_id": "math.1", "score": 3,
            "assessed_at": "2026-10-01T09:30:00Z"}  # fmt: skip
    items = [good, good | {"score": "three"}, {"student_id": "maya"}]
    answer = await system.attempts.post(
        "/v1/attempts/batch", json={"attempts": items}, headers=auth
    )
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == [
        "attempts[1].score",
        "attempts[2].attempt_id",
        "attempts[2].standard_id",
        "attempts[2].assessed_at",
    ]


async def test_a_struct_s_own_check_is_named_once_the_fields_convert(
    system: System, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    body = {"attempt_id": "q1", "student_id": "maya", "standard_id": "math.1", "score": 3,
            "assessed_at": "2026-10-01T09:30:00+16:00"}  # fmt: skip
    answer = await system.attempts.post("/v1/attempts", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["assessed_at"]
