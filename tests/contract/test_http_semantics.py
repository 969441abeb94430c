"""HTTP as RFC 9110 says, on the running services: `Allow` on 405, 415 for a body that is not
JSON, `Location` on 201, and a page where each problem's `type` points."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import define_standard, new_tenant

ATTEMPT = {
    "attempt_id": "quiz-1", "student_id": "maya", "standard_id": "math.fractions", "score": 3,
    "assessed_at": "2026-10-01T09:30:00Z",
}  # fmt: skip


@pytest.fixture
async def system(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> AsyncIterator[System]:
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as running:
        yield running


async def test_a_405_names_the_methods_the_path_has(system: System, pool: asyncpg.Pool) -> None:
    _, auth = await new_tenant(pool)
    answer = await system.attempts.delete("/v1/policy", headers=auth)
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert {method.strip() for method in answer.headers["allow"].split(",")} >= {"GET", "PUT"}
    # OPTIONS lists every method of the path, not only its first handler's.
    options = await system.attempts.options("/v1/policy")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, OPTIONS, PUT"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_is_415(
    system: System, pool: asyncpg.Pool, content_type: str
) -> None:
    _, auth = await new_tenant(pool)
    answer = await system.attempts.post(
        "/v1/attempts",
        content=b'{"attempt_id": "x"}',
        headers=auth | {"content-type": content_type},
    )
    assert answer.status_code == 415, answer.text
    assert answer.json()["type"] == "/problems/unsupported-media-type"
    assert answer.headers["accept-post"] == "application/json"


async def test_a_json_media_type_with_parameters_or_a_suffix_is_read(
    system: System, pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant)
    for number, content_type in enumerate(
        ["application/json; charset=utf-8", "application/merge-patch+json"]
    ):
        body = f'{{"attempt_id": "q{number}", "student_id": "maya", "standard_id": '
        body += '"math.fractions", "score": 3, "assessed_at": "2026-10-01T09:30:00Z"}'
        answer = await system.attempts.post(
            "/v1/attempts", content=body.encode(), headers=auth | {"content-type": content_type}
        )
        assert answer.status_code == 201, answer.text


async def test_each_201_says_where_the_created_thing_is(
    system: System, pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    standard = {"title": "Fractions", "method": "latest"}
    created = await system.attempts.put("/v1/standards/math.é", json=standard, headers=auth)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/standards/math.%C3%A9"
    assert (await system.attempts.get(created.headers["location"], headers=auth)).status_code == 200
    await define_standard(pool, bus, tenant)
    recorded = await system.attempts.post("/v1/attempts", json=ATTEMPT, headers=auth)
    assert recorded.status_code == 201, recorded.text
    assert recorded.headers["location"] == "/v1/attempts/quiz-1"
    again = await system.attempts.post("/v1/attempts", json=ATTEMPT, headers=auth)
    assert again.status_code == 200
    assert "location" not in again.headers
    voided = await system.attempts.post(
        "/v1/attempts/quiz-1/void", json={"reason": "wrong student"}, headers=auth
    )
    assert voided.status_code == 201, voided.text
    assert voided.headers["location"] == "/v1/attempts/quiz-1"
    work = await system.attempts.post(
        "/v1/students/maya/standards/math.fractions/corrective-work",
        json={"work_id": "w#1"},
        headers=auth,
    )
    assert work.status_code == 201, work.text
    assert work.headers["location"] == (
        "/v1/students/maya/standards/math.fractions/corrective-work/w%231"
    )


async def test_a_problem_s_type_uri_is_a_page(system: System, pool: asyncpg.Pool) -> None:
    _, auth = await new_tenant(pool)
    for client, path in [
        (system.attempts, "/v1/standards/nope"),  # a problem of the service's own
        (system.attempts, "/v1/nowhere"),  # Litestar's 404, named after its status
        (system.mastery, "/v1/students/maya/standards/math.1/history"),
        (system.notify, "/v1/suppressions/nobody@example.org"),
    ]:
        method = client.delete if "suppressions" in path else client.get
        problem = (await method(path, headers=auth)).json()
        page = await client.get(problem["type"])
        assert page.status_code == 200, (path, problem["type"])
        assert page.headers["content-type"].startswith("text/html")
        assert problem["title"].split()[0] in page.text
    unknown = await system.notify.get("/problems/no-such-type")
    assert unknown.status_code == 404
