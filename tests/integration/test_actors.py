"""Every write names the API key that made it: in the stored event and in the history."""

import json
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_key, new_tenant

ATTEMPT = {
    "attempt_id": "a1",
    "student_id": "maya",
    "standard_id": "math.1",
    "score": 2,
    "points_possible": 4,
    "assessed_at": "2026-10-05T10:00:00Z",
}
MARKER = {**ATTEMPT, "attempt_id": "a2", "status": "missing", "score": None,
          "points_possible": None}  # fmt: skip
CORRECTIVE_WORK = "/v1/students/maya/standards/math.1/corrective-work"


async def _stored(pool: asyncpg.Pool, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    """Each stored event of the tenant, in order: its type and its actor."""
    rows = await pool.fetch(
        "SELECT data::text FROM attempt_events WHERE stream_id LIKE $1 ORDER BY global_position",
        f"{tenant}/%",
    )
    events = [json.loads(row["data"]) for row in rows]
    return [(event["type"], event["actor"]) for event in events]


async def test_each_write_records_the_key_that_made_it(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, _ = await new_tenant(pool)
    admin_id, admin = await new_key(pool, tenant, "admin", "Ms. Rivera")
    ingest_id, ingest = await new_key(pool, tenant, "ingest", "SIS sync")
    _, reader = await new_key(pool, tenant, "read", "parent portal")
    by_admin = {"key_id": admin_id, "label": "Ms. Rivera"}
    by_sync = {"key_id": ingest_id, "label": "SIS sync"}
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        writes = [
            await system.attempts.put("/v1/standards/math.1", json={"title": "Fractions"},
                                      headers=admin),
            await system.attempts.put("/v1/policy", json={"method": "latest"}, headers=admin),
            await system.attempts.post("/v1/attempts", json=ATTEMPT, headers=ingest),
            await system.attempts.post("/v1/attempts/batch", json={"attempts": [MARKER]},
                                       headers=ingest),
            await system.attempts.post(CORRECTIVE_WORK, json={"note": "redid the set"},
                                       headers=ingest),
            await system.attempts.post("/v1/attempts/a1/rescore",
                                       json={"score": 3, "reason": "rubric"}, headers=admin),
            await system.attempts.post("/v1/attempts/a2/void", json={"reason": "excused"},
                                       headers=ingest),
        ]  # fmt: skip
        assert [write.status_code for write in writes] == [201, 200, 201, 200, 201, 201, 201]
        # The same attempt again from another key is a replay: nothing new, the first actor stays.
        again = await system.attempts.post("/v1/attempts", json=ATTEMPT, headers=admin)
        assert again.status_code == 200, again.text

        history = await system.mastery.get(
            "/v1/students/maya/standards/math.1/history", headers=reader
        )
    assert await _stored(pool, tenant) == [
        ("standard_defined.v1", by_admin),
        ("tenant_policy_set.v1", by_admin),
        ("attempt_recorded.v2", by_sync),
        ("attempt_recorded.v2", by_sync),
        ("corrective_work_recorded.v1", by_sync),
        ("attempt_rescored.v1", by_admin),
        ("attempt_voided.v1", by_sync),
    ]
    assert history.status_code == 200, history.text
    assert [(entry["type"], entry["actor"]) for entry in history.json()["events"]] == [
        ("attempt_recorded.v2", by_sync),
        ("attempt_recorded.v2", by_sync),
        ("corrective_work_recorded.v1", by_sync),
        ("attempt_rescored.v1", by_admin),
        ("attempt_voided.v1", by_sync),
    ]
