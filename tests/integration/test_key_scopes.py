"""Over HTTP, against the three running services: each route answers a key whose scope does not
grant the route's with 403 problem+json naming the scope needed, and serves one whose scope does."""

import re
from typing import Any

import asyncpg
import httpx
from litestar.testing import AsyncTestClient

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from shared.platform.tenancy import SCOPES, Scope, grants
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_key, new_tenant
from tests.unit.test_route_scopes import MATRIX

_PATH_PARAMETER = re.compile(r"\{(\w+):str\}")


async def _call(client: AsyncTestClient[Any], route: str, auth: dict[str, str]) -> httpx.Response:
    method, path = route.split(" ")
    url = _PATH_PARAMETER.sub(r"some-\1", path)
    body: dict[str, object] | None = None if method == "GET" else {}
    return await client.request(method, url, headers=auth, json=body)


def _refused_for_scope(response: httpx.Response, needed: Scope, held: Scope, key_id: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/insufficient-scope"
    assert problem["required_scope"] == needed
    assert problem["key_scope"] == held
    assert f"`{needed}`" in problem["detail"]
    assert key_id in problem["detail"]
    assert f'scope="{needed}"' in response.headers["www-authenticate"]


async def test_every_route_refuses_a_key_without_its_scope_and_serves_one_with_it(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, _ = await new_tenant(pool)
    keys = {scope: await new_key(pool, tenant, scope) for scope in SCOPES}
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        clients = {"attempts": system.attempts, "mastery": system.mastery, "notify": system.notify}
        for service, matrix in MATRIX.items():
            for route, needed in matrix.items():
                assert (await _call(clients[service], route, {})).status_code == 401, route
                for held, (key_id, auth) in keys.items():
                    response = await _call(clients[service], route, auth)
                    if grants(held, needed):
                        assert response.status_code not in {401, 403}, (route, held, response.text)
                    else:
                        _refused_for_scope(response, needed, held, key_id)
