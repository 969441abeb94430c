"""Standards, reassessment rules, corrections, markers and batches over HTTP, on real PostgreSQL."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.adapters import event_store
from services.attempts.adapters.event_store import ConcurrencyConflict, NewEvent, append
from services.attempts.adapters.recorder import AttemptRecorder, Recorded
from services.attempts.app import create_app
from services.attempts.config import AttemptsConfig
from services.attempts.core.recording import RecordAttempt, Refuse
from services.attempts.core.refusals import RuleRefused
from shared.contract.events.attempts import AttemptRecorded
from shared.contract.events.standards import ReassessmentPolicy
from shared.platform.bus import BusNames
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import attempt_events_sql, define_standard, new_tenant

Client = AsyncTestClient[Any]


@pytest.fixture
async def client(database_url: str, servers: Servers, bus: BusNames) -> AsyncIterator[Client]:
    config = AttemptsConfig(
        database_url=service_url(database_url, "attempts"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_app(config)) as test_client:
        yield test_client


def _attempt(attempt_id: str, score: float | None = 3, **extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "attempt_id": attempt_id,
        "student_id": "maya",
        "standard_id": "math.1",
        "assessed_at": "2026-10-01T09:30:00Z",
        **extra,
    }
    if score is not None:
        body |= {"score": score, "points_possible": 4}
    return body


async def _tenant_with_standard(
    client: Client, pool: asyncpg.Pool, **standard: object
) -> dict[str, str]:
    _, auth = await new_tenant(pool)
    response = await client.put("/v1/standards/math.1", json={"title": "Fractions", **standard},
                                headers=auth)  # fmt: skip
    assert response.status_code == 201, response.text
    return auth


async def _events(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval(attempt_events_sql())
    return count


async def test_standards_are_versioned_events_with_get_and_list(
    client: Client, pool: asyncpg.Pool
) -> None:
    tenant, auth = await new_tenant(pool)
    body = {
        "title": "Fractions",
        "case_guid": "c6e9d9a4-1a43-11e8-9d1e-0242ac150002",
        "method": "decaying_average",
        "parameter": 70,
        "reassessment": {"max_reassessments": 3, "corrective_work_required": True},
    }
    created = await client.put("/v1/standards/math.1", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 1
    same = await client.put("/v1/standards/math.1", json=body, headers=auth)
    assert (same.status_code, same.json()["version"]) == (200, 1)  # nothing changed, no event
    changed = await client.put("/v1/standards/math.1", json={**body, "parameter": 80}, headers=auth)
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    got = (await client.get("/v1/standards/math.1", headers=auth)).json()
    assert (got["effective_method"], got["effective_parameter"]) == ("decaying_average", 80)
    assert got["standard"]["reassessment"] == body["reassessment"]
    listed = (await client.get("/v1/standards", headers=auth)).json()["standards"]
    assert [item["standard_id"] for item in listed] == ["math.1"]
    types = await pool.fetch(
        "SELECT event_type FROM attempt_events WHERE stream_id = $1 ORDER BY stream_version",
        f"{tenant}//standards/math.1",
    )
    assert [row["event_type"] for row in types] == ["standard_defined.v1"] * 2
    missing = await client.get("/v1/standards/nope", headers=auth)
    assert missing.status_code == 404


async def test_the_tenant_policy_sets_the_default_and_an_allow_list(
    client: Client, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    assert (await client.get("/v1/policy", headers=auth)).status_code == 404
    policy = {"method": "highest", "allowed_methods": ["highest", "latest"]}
    assert (await client.put("/v1/policy", json=policy, headers=auth)).status_code == 200
    plain = await client.put("/v1/standards/a", json={"title": "A"}, headers=auth)
    assert plain.json()["effective_method"] == "highest"
    refused = await client.put("/v1/standards/b", json={"title": "B", "method": "mode"},
                               headers=auth)  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "method"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "T", "method": "decaying_average", "parameter": 20}, "parameter"),
        ({"title": "T", "method": "median"}, "method"),
        ({"title": ""}, "title"),
        ({"title": "T", "case_guid": "not-a-guid"}, "case_guid"),
        ({"title": "T", "scale": {"levels": [{"value": 1, "label": "x", "min_score": 0}],
                                  "minimum": 0, "maximum": 10}}, "mastery_threshold"),
        ({"title": "T", "reassessment": {"max_reassessments": -1}},
         "reassessment.max_reassessments"),
        ({"title": "T", "colour": "red"}, "colour"),
    ],
)  # fmt: skip
async def test_invalid_standards_get_422_naming_the_field(
    client: Client, pool: asyncpg.Pool, body: dict[str, object], field: str
) -> None:
    _, auth = await new_tenant(pool)
    response = await client.put("/v1/standards/math.1", json=body, headers=auth)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_the_reassessment_limit_answers_409_with_the_rule_and_stores_nothing(
    client: Client, pool: asyncpg.Pool
) -> None:
    auth = await _tenant_with_standard(client, pool, reassessment={"max_reassessments": 1})
    for n in (1, 2):
        assert (
            await client.post("/v1/attempts", json=_attempt(f"a{n}"), headers=auth)
        ).status_code == 201
    refused = await client.post("/v1/attempts", json=_attempt("a3"), headers=auth)
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/reassessment-limit-reached")
    assert problem["rule"] == "max_reassessments"
    assert "void" in problem["remedy"]
    assert await _events(pool) == 2


async def test_corrective_work_opens_the_next_reassessment(
    client: Client, pool: asyncpg.Pool
) -> None:
    auth = await _tenant_with_standard(
        client, pool, reassessment={"corrective_work_required": True}
    )
    assert (await client.post("/v1/attempts", json=_attempt("a1"), headers=auth)).status_code == 201
    refused = await client.post("/v1/attempts", json=_attempt("a2"), headers=auth)
    assert (refused.status_code, refused.json()["rule"]) == (409, "corrective_work_required")
    work = {"work_id": "w1", "note": "re-did the fraction strips", "reference": "lms://task/9"}
    path = "/v1/students/maya/standards/math.1/corrective-work"
    done = await client.post(path, json=work, headers=auth)
    assert done.status_code == 201, done.text
    assert done.json()["event"]["type"] == "corrective_work_recorded.v1"
    assert (await client.post(path, json=work, headers=auth)).json()["outcome"] == "replayed"
    assert (await client.post("/v1/attempts", json=_attempt("a2"), headers=auth)).status_code == 201
    unknown = await client.post("/v1/students/maya/standards/nope/corrective-work", json={},
                                headers=auth)  # fmt: skip
    assert unknown.status_code == 404


async def test_markers_are_attempts_without_a_score(client: Client, pool: asyncpg.Pool) -> None:
    auth = await _tenant_with_standard(client, pool)
    marker = await client.post("/v1/attempts", json=_attempt("m1", None, status="missing"),
                               headers=auth)  # fmt: skip
    assert marker.status_code == 201, marker.text
    assert (marker.json()["status"], marker.json()["score"]) == ("missing", None)
    scored_marker = await client.post(
        "/v1/attempts", json=_attempt("m2", 3, status="excused"), headers=auth
    )
    assert scored_marker.status_code == 422
    on_scale = await client.post("/v1/attempts", json={**_attempt("s1", None), "score": 9},
                                 headers=auth)  # fmt: skip
    assert on_scale.status_code == 422
    assert "outside the scale" in on_scale.json()["detail"]


async def test_void_and_rescore_are_new_events_and_the_original_stays(
    client: Client, pool: asyncpg.Pool
) -> None:
    auth = await _tenant_with_standard(client, pool)
    await client.post("/v1/attempts", json=_attempt("a1", 2), headers=auth)
    await client.post("/v1/attempts", json=_attempt("a2", 3), headers=auth)
    assert (await client.post("/v1/attempts/a1/void", json={}, headers=auth)).status_code == 422
    voided = await client.post("/v1/attempts/a1/void", json={"reason": "wrong student"},
                               headers=auth)  # fmt: skip
    assert voided.status_code == 201, voided.text
    assert voided.json()["stream_version"] == 3
    again = await client.post("/v1/attempts/a1/void", json={"reason": "x"}, headers=auth)
    assert again.status_code == 409
    rescored = await client.post(
        "/v1/attempts/a2/rescore", json={"score": 4, "points_possible": 4, "reason": "regraded"},
        headers=auth,
    )  # fmt: skip
    assert rescored.status_code == 201, rescored.text
    missing = await client.post("/v1/attempts/zz/void", json={"reason": "x"}, headers=auth)
    assert missing.status_code == 404
    types = await pool.fetch(attempt_events_sql("event_type") + " ORDER BY global_position")
    assert [row["event_type"] for row in types] == [
        "attempt_recorded.v2", "attempt_recorded.v2", "attempt_voided.v1", "attempt_rescored.v1",
    ]  # fmt: skip


async def test_a_batch_answers_per_item_and_stores_only_the_accepted(
    client: Client, pool: asyncpg.Pool
) -> None:
    auth = await _tenant_with_standard(client, pool)
    await client.post("/v1/attempts", json=_attempt("known"), headers=auth)
    items = [_attempt("b1"), _attempt("b2", 9), _attempt("known"), _attempt("b3", 4),
             {**_attempt("b4"), "standard_id": "nope"}]  # fmt: skip
    response = await client.post("/v1/attempts/batch", json={"attempts": items}, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [item["status"] for item in body["results"]] == [201, 422, 200, 201, 422]
    assert (body["created"], body["replayed"], body["refused"]) == (2, 1, 2)
    assert body["results"][1]["problem"]["errors"][0]["field"] == "score"
    versions = [body["results"][n]["receipt"]["stream_version"] for n in (0, 3)]
    assert versions == [2, 3]  # one stream: consecutive versions inside the batch
    assert await _events(pool) == 3


async def test_batches_are_bounded_and_bodies_too(client: Client, pool: asyncpg.Pool) -> None:
    auth = await _tenant_with_standard(client, pool)
    too_many = {"attempts": [_attempt(f"x{n}") for n in range(1001)]}
    response = await client.post("/v1/attempts/batch", json=too_many, headers=auth)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "attempts"
    huge = b'{"attempts": [' + b" " * 2_000_000 + b"]}"
    response = await client.post(
        "/v1/attempts/batch", content=huge, headers={**auth, "content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await _events(pool) == 0


async def test_two_writers_with_the_same_expected_version_never_both_win(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    event = AttemptRecorded(
        tenant_id="school", student_id="maya", standard_id="math.1", attempt_id="a",
        score=3, points_possible=4, assessed_at=datetime.now(UTC), recorded_at=datetime.now(UTC),
    )  # fmt: skip
    both_read = asyncio.Barrier(2)

    async def writer(event_id: str) -> str:
        async with pool.acquire() as connection, connection.transaction():
            await both_read.wait()  # both decided on version 0, as two API requests would
            new = NewEvent(stream_id="school/maya/math.1", version=1, event_id=event_id,
                           event=event)  # fmt: skip
            try:
                await append(connection, [new])
            except ConcurrencyConflict:
                return "lost"
            return "won"

    outcomes = await asyncio.gather(
        writer("00000000-0000-4000-8000-000000000001"),
        writer("00000000-0000-4000-8000-000000000002"),
    )
    assert sorted(outcomes) == ["lost", "won"]
    assert await _events(pool) == 1


async def test_concurrent_reassessments_cannot_overrun_the_limit(
    pool: asyncpg.Pool, bus: BusNames
) -> None:
    limit = ReassessmentPolicy(max_reassessments=1)
    await define_standard(pool, bus, "school", "math.1", reassessment=limit)
    recorder = AttemptRecorder(pool)
    now = datetime.now(UTC)

    def command(n: int) -> RecordAttempt:
        return RecordAttempt(
            tenant_id="school", attempt_id=f"c{n}", student_id="maya", standard_id="math.1",
            score=3, points_possible=4, assessed_at=now,
        )  # fmt: skip

    results = await asyncio.gather(*(recorder.record(command(n), now=now) for n in range(6)))
    created = [r for r in results if isinstance(r, Recorded)]
    refused = [r for r in results if isinstance(r, Refuse)]
    assert len(created) == 2  # the first assessment and the one reassessment allowed
    assert {r.rule for r in refused if isinstance(r, RuleRefused)} == {"max_reassessments"}
    assert len(refused) == 4
    assert sorted(r.receipt.stream_version for r in created) == [1, 2]


async def test_writers_that_keep_losing_the_race_get_a_409_problem_on_every_write_endpoint(
    client: Client, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = await _tenant_with_standard(client, pool)
    monkeypatch.setattr(event_store, "MAX_APPEND_RETRIES", 0)  # as if every round was lost
    answers = [
        await client.post("/v1/attempts", json=_attempt("a1"), headers=auth),
        await client.post("/v1/attempts/batch", json={"attempts": [_attempt("a2")]}, headers=auth),
        await client.put("/v1/standards/math.2", json={"title": "T"}, headers=auth),
        await client.put("/v1/policy", json={"method": "highest"}, headers=auth),
    ]
    assert [answer.status_code for answer in answers] == [409] * 4
    assert {answer.json()["type"] for answer in answers} == {"/problems/stream-contended"}
    assert await _events(pool) == 0
