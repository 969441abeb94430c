"""Over HTTP: the parameter and letters in force are shown, and the explanation names the
evidence, the voided and excused attempts and the markers."""

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.attempts.app import create_app as attempts_app
from services.attempts.config import AttemptsConfig
from services.mastery.adapters.projector import MasteryProjector
from services.mastery.app import create_app as mastery_app
from services.mastery.config import MasteryConfig
from services.mastery.core.calculation import FALLBACK_POLICY
from shared.contract.events.gradebook import gradebook_envelopes
from shared.platform.bus import BusNames
from shared.platform.consumer import Delivered
from tests.support.logs import logged_messages
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant

Client = AsyncTestClient[Any]
_gradebook = gradebook_envelopes()


@pytest.fixture
async def attempts(database_url: str, servers: Servers, bus: BusNames) -> AsyncIterator[Client]:
    config = AttemptsConfig(database_url=service_url(database_url, "attempts"),
                            nats_url=servers.nats_url, bus_namespace=bus.namespace,
                            bus_stream_replicas=1)  # fmt: skip
    async with AsyncTestClient(attempts_app(config)) as client:
        yield client


@pytest.fixture
async def mastery(database_url: str, servers: Servers, bus: BusNames) -> AsyncIterator[Client]:
    config = MasteryConfig(database_url=service_url(database_url, "mastery"),
                           nats_url=servers.nats_url, bus_namespace=bus.namespace,
                           bus_stream_replicas=1)  # fmt: skip
    async with AsyncTestClient(mastery_app(config)) as client:
        yield client


async def test_the_parameter_and_letters_in_force_are_shown(
    attempts: Client, pool: asyncpg.Pool
) -> None:
    tenant, auth = await new_tenant(pool)
    body = {"title": "Fractions", "method": "decaying_average"}
    created = await attempts.put("/v1/standards/math.1", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert (created.json()["effective_method"], created.json()["effective_parameter"]) == (
        "decaying_average",
        65,
    )
    bands = [[e["letter"], e["min_score"]] for e in created.json()["effective_letters"]]
    assert bands == [["A", 3.5], ["B", 3], ["C", 2.5], ["D", 2], ["F", 1]]

    pass_fail = {"letters": [{"letter": "P", "min_position": 2 / 3},
                             {"letter": "N", "min_position": 0}]}  # fmt: skip
    policy = await attempts.put("/v1/policy", json={"method": "latest", **pass_fail}, headers=auth)
    assert policy.status_code == 200, policy.text
    assert policy.json()["letters"][0]["letter"] == "P"
    got = (await attempts.get("/v1/standards/math.1", headers=auth)).json()
    assert [e["letter"] for e in got["effective_letters"]] == ["P", "N"]

    own = {**body, "letters": [{"letter": "M", "min_score": 3}, {"letter": "-", "min_score": 1}]}
    assert (await attempts.put("/v1/standards/math.1", json=own, headers=auth)).status_code == 200
    stored = await pool.fetchval(
        "SELECT data::text FROM attempt_events WHERE stream_id = $1 ORDER BY stream_version DESC "
        "LIMIT 1",
        f"{tenant}//standards/math.1",
    )
    # The share of the maximum is written too, for readers that know only that form.
    assert json.loads(stored)["letters"][0] == {"letter": "M", "min_fraction": 0.75,
                                                 "min_score": 3, "min_position": None}  # fmt: skip
    by_score = {"method": "latest", "letters": [{"letter": "A", "min_score": 3}]}
    refused = await attempts.put("/v1/policy", json=by_score, headers=auth)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "letters"


async def _project(pool: asyncpg.Pool, bus: BusNames) -> None:
    projector = MasteryProjector(pool, bus, FALLBACK_POLICY)
    for position, message in await logged_messages(pool, bus):
        delivered = Delivered(_gradebook.decode(message.payload), position)
        await projector.handle_gradebook_events([delivered])


async def test_the_explanation_names_voided_excused_and_missing_work(
    attempts: Client, mastery: Client, pool: asyncpg.Pool, bus: BusNames
) -> None:
    _, auth = await new_tenant(pool)
    put = await attempts.put("/v1/standards/math.1", json={"title": "F", "method": "average"},
                             headers=auth)  # fmt: skip
    assert put.status_code == 201, put.text

    def attempt(attempt_id: str, day: int, **fields: object) -> dict[str, object]:
        return {"attempt_id": attempt_id, "student_id": "maya", "standard_id": "math.1",
                "assessed_at": f"2026-10-0{day}T09:30:00Z", **fields}  # fmt: skip

    for body in (
        attempt("quiz-1", 1, score=0, points_possible=4),
        attempt("quiz-2", 2, score=4, points_possible=4),
        attempt("quiz-3", 3, status="excused"),
        attempt("hw-4", 4, status="missing"),
        attempt("quiz-5", 5, score=2, points_possible=4),
    ):
        response = await attempts.post("/v1/attempts", json=body, headers=auth)
        assert response.status_code == 201, response.text
    void = await attempts.post("/v1/attempts/quiz-2/void", json={"reason": "copied"}, headers=auth)
    assert void.status_code in {200, 201}, void.text
    rescore = {"score": 3, "points_possible": 4, "reason": "rubric misread"}
    rescored = await attempts.post("/v1/attempts/quiz-5/rescore", json=rescore, headers=auth)
    assert rescored.status_code in {200, 201}, rescored.text
    await _project(pool, bus)

    response = await mastery.get("/v1/students/maya/mastery", headers=auth)
    assert response.status_code == 200, response.text
    [standard] = response.json()["standards"]
    assert (standard["score"], standard["letter"]) == (2, "D")  # (1 + 3) / 2
    assert standard["explanation"][:6] == [
        "Counted: quiz-1 (2026-10-01): 0 of 4 points → 1 (the scale's minimum)",
        "Counted: quiz-5 (2026-10-05): 3 of 4 points → 3, rescored",
        "Not counted: quiz-5 (2026-10-05): 2 of 4 points → 2 as first recorded, superseded by a "
        "rescore",
        "Not counted: quiz-2 (2026-10-02): voided (it scored 4 of 4 points → 4)",
        "Not counted: quiz-3 (2026-10-03): excused",
        "Not counted: hw-4 (2026-10-04): missing, a marker, never a zero",
    ]
