"""POST /v1/calculate on the mastery service."""

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from services.mastery.app import create_app
from services.mastery.config import MasteryConfig
from shared.platform.bus import BusNames
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.tenants import new_tenant


@pytest.fixture
async def client(
    database_url: str, servers: Servers, bus: BusNames
) -> AsyncIterator[AsyncTestClient[Any]]:
    config = MasteryConfig(
        database_url=service_url(database_url, "mastery"),
        nats_url=servers.nats_url,
        bus_namespace=bus.namespace,
        bus_stream_replicas=1,
    )
    async with AsyncTestClient(create_app(config)) as test_client:
        yield test_client


async def test_calculates_with_dates_and_explains(
    client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    body = {
        "method": "latest",
        "scores": [
            {"score": 4, "assessed_at": "2026-10-05T00:00:00Z"},
            {"score": 2, "assessed_at": "2026-10-01T00:00:00Z"},
            {"status": "missing", "assessed_at": "2026-10-07T00:00:00Z"},
        ],
    }
    response = await client.post("/v1/calculate", json=body, headers=auth)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["score"], result["level_label"], result["mastered"]) == (4, "Advanced", True)
    assert [marker["status"] for marker in result["markers"]] == ["missing"]
    assert result["plain_average"] == 3


async def test_invalid_parameter_is_422_problem(
    client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    body = {"method": "decaying_average", "parameter": 120, "scores": [{"score": 3}]}
    response = await client.post("/v1/calculate", json=body, headers=auth)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "between 50 and 99" in response.json()["detail"]


async def test_unknown_method_is_422_naming_the_field(
    client: AsyncTestClient[Any], pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    response = await client.post(
        "/v1/calculate", json={"method": "median", "scores": []}, headers=auth
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "method"
