"""A key of tenant A can neither read nor write tenant B's data."""

from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

ATTEMPT = {
    "attempt_id": "exit-ticket-1",
    "student_id": "sam",
    "standard_id": "sci.energy",
    "score": 4,
    "points_possible": 4,
    "assessed_at": "2026-10-05T10:00:00Z",
}


async def _standards(system: System, auth: dict[str, str]) -> list[dict[str, Any]]:
    response = await system.mastery.get("/v1/students/sam/mastery", headers=auth)
    assert response.status_code == 200
    standards: list[dict[str, Any]] = response.json()["standards"]
    return standards


async def test_tenants_see_only_their_own_students(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant_a, auth_a = await new_tenant(pool, "a")
    tenant_b, auth_b = await new_tenant(pool, "b")
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        for auth in (auth_a, auth_b):
            defined = await system.attempts.put(
                f"/v1/standards/{ATTEMPT['standard_id']}", json={"title": "T"}, headers=auth
            )
            assert defined.status_code == 201, defined.text
        await system.notify.put(
            "/v1/students/sam/guardians",
            json={"guardians": [{"email": "b-family@example.org"}]},
            headers=auth_b,
        )
        await system.attempts.post("/v1/attempts", json=ATTEMPT, headers=auth_b)
        seen_by_b = await eventually(
            lambda: _standards(system, auth_b), lambda found: len(found) == 1
        )
        assert seen_by_b[0]["mastered"] is True

        # A's key reads nothing of B's student, and its writes land in A only.
        assert await _standards(system, auth_a) == []
        guardians = await system.notify.get("/v1/students/sam/guardians", headers=auth_a)
        assert guardians.json()["guardians"] == []
        await system.attempts.post("/v1/attempts", json={**ATTEMPT, "score": 1}, headers=auth_a)
        seen_by_a = await eventually(
            lambda: _standards(system, auth_a), lambda found: len(found) == 1
        )
        assert seen_by_a[0]["level"] == 1
        assert (await _standards(system, auth_b))[0]["level"] == 4

    rows = await pool.fetch("SELECT tenant_id, score FROM proficiencies ORDER BY tenant_id")
    assert [(row["tenant_id"], row["score"]) for row in rows] == sorted(
        [(tenant_a, 1.0), (tenant_b, 4.0)]
    )
    # B's family heard about B's attempt only; A's change had no guardian to tell.
    assert [message["To"] for message in smtp_sink.messages] == ["b-family@example.org"]
