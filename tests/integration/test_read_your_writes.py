"""Read your writes: every write answers its log position; a read given it waits (bounded) until
the read model has applied it, or says it is stale; every read says how far the read model got."""

import time
import uuid
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from services.mastery.adapters.positions import look, looks, raise_watermarks
from shared.platform.bus import BusNames
from shared.platform.postgres import DbConnection
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

STANDARD = "math.fractions"


def attempt(attempt_id: str, student: str, score: float, day: int = 1) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": student,
        "standard_id": STANDARD,
        "score": score,
        "assessed_at": f"2026-10-{day:02d}T09:30:00Z",
    }


async def put_standard(system: System, auth: dict[str, str]) -> int:
    response = await system.attempts.put(
        f"/v1/standards/{STANDARD}", json={"title": "Fractions"}, headers=auth
    )
    assert response.status_code == 201, response.text
    position = int(response.headers["X-Log-Position"])
    assert response.json()["position"] == position > 0
    return position


async def test_a_read_at_the_writes_position_returns_the_new_standing(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        defined = await put_standard(system, auth)
        posted = await system.attempts.post(
            "/v1/attempts", json=attempt("q1-maya", "maya", 3), headers=auth
        )
        assert posted.status_code == 201, posted.text
        position = posted.json()["position"]
        assert int(posted.headers["X-Log-Position"]) == position > defined

        read = await system.mastery.get(
            f"/v1/students/maya/mastery?min_position={position}", headers=auth
        )
        assert read.status_code == 200, read.text
        assert read.headers["X-Read-Model-Stale"] == "false"
        [standing] = read.json()["standards"]
        assert (standing["standard_id"], standing["level"]) == (STANDARD, 3)
        history = await system.mastery.get(
            f"/v1/students/maya/standards/{STANDARD}/history?min_position={position}",
            headers=auth,
        )
        assert history.status_code == 200, history.text
        assert history.headers["X-Read-Model-Stale"] == "false"

        policy = await system.attempts.put(
            "/v1/policy", json={"method": "decaying_average", "parameter": 65}, headers=auth
        )
        assert policy.status_code == 200, policy.text
        assert int(policy.headers["X-Log-Position"]) == policy.json()["position"] > position
        after_policy = await system.mastery.get(
            f"/v1/students/maya/mastery?min_position={policy.json()['position']}", headers=auth
        )
        assert after_policy.headers["X-Read-Model-Stale"] == "false"
        position = policy.json()["position"]

        # The watermark reaches the write once nothing below it can still commit.
        async def watermark() -> int:
            response = await system.mastery.get("/v1/students/maya/mastery", headers=auth)
            assert response.headers["X-Read-Model-Stale"] == "false"
            return int(response.headers["X-Read-Model-Position"])

        await eventually(watermark, lambda seen: seen >= position)


async def test_a_replayed_write_answers_the_original_position(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        defined = await put_standard(system, auth)
        again = await system.attempts.put(
            f"/v1/standards/{STANDARD}", json={"title": "Fractions"}, headers=auth
        )
        first = await system.attempts.post(
            "/v1/attempts", json=attempt("q1-maya", "maya", 3), headers=auth
        )
        replay = await system.attempts.post(
            "/v1/attempts", json=attempt("q1-maya", "maya", 3), headers=auth
        )
        assert (first.status_code, replay.status_code) == (201, 200)
        assert replay.json()["position"] == first.json()["position"]
        assert replay.headers["X-Log-Position"] == first.headers["X-Log-Position"]
        # An unchanged standard answers the position of the definition it kept.
        assert again.status_code == 200
        assert again.json()["position"] == int(again.headers["X-Log-Position"]) == defined

        batch = await system.attempts.post(
            "/v1/attempts/batch",
            json={"attempts": [attempt("q1-maya", "maya", 3), attempt("q1-ann", "ann", 2),
                               attempt("q1-ann", "ann", 2)]},
            headers=auth,
        )  # fmt: skip
        results = batch.json()["results"]
        assert [item["status"] for item in results] == [200, 201, 200]
        positions = [item["receipt"]["position"] for item in results]
        assert positions[0] == first.json()["position"]
        assert positions[1] == positions[2] > positions[0]
        assert int(batch.headers["X-Log-Position"]) == positions[1]

        path = f"/v1/students/maya/standards/{STANDARD}/corrective-work"
        work = await system.attempts.post(path, json={"work_id": "w1"}, headers=auth)
        work_again = await system.attempts.post(path, json={"work_id": "w1"}, headers=auth)
        assert work.json()["outcome"] == "created"
        assert work_again.json()["outcome"] == "replayed"
        assert work_again.json()["position"] == work.json()["position"] > positions[1]
        assert work_again.headers["X-Log-Position"] == str(work.json()["position"])

        voided = await system.attempts.post(
            "/v1/attempts/q1-ann/void", json={"reason": "wrong student"}, headers=auth
        )
        assert voided.status_code == 201, voided.text
        assert int(voided.headers["X-Log-Position"]) == voided.json()["position"]
        assert voided.json()["position"] > work.json()["position"]
        read = await system.mastery.get(
            f"/v1/students/ann/mastery?min_position={voided.json()['position']}", headers=auth
        )
        assert read.headers["X-Read-Model-Stale"] == "false"
        assert read.json()["standards"][0]["evidence_count"] == 0


async def test_a_position_not_reached_answers_stale_after_the_bounded_wait(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    settings = {"read_wait_timeout": 0.4}
    async with running_system(
        database_url, servers.nats_url, smtp_sink.url, bus, mastery_settings=settings
    ) as system:
        await put_standard(system, auth)
        posted = await system.attempts.post(
            "/v1/attempts", json=attempt("q1-maya", "maya", 3), headers=auth
        )
        position = posted.json()["position"]
        fresh = await system.mastery.get(
            f"/v1/students/maya/mastery?min_position={position}", headers=auth
        )
        assert fresh.headers["X-Read-Model-Stale"] == "false"

        started = time.monotonic()
        beyond = await system.mastery.get(
            f"/v1/students/maya/mastery?min_position={position + 1_000_000}", headers=auth
        )
        waited = time.monotonic() - started
        assert beyond.status_code == 200, beyond.text
        assert beyond.headers["X-Read-Model-Stale"] == "true"
        assert 0.4 <= waited < 2.0, waited
        # The data it has, not a pretence: the standing is there, and so is how far it got.
        assert beyond.json()["standards"][0]["level"] == 3
        assert 0 < int(beyond.headers["X-Read-Model-Position"]) <= position

        refused = await system.mastery.get(
            "/v1/students/maya/mastery?min_position=abc", headers=auth
        )
        assert refused.status_code == 422
        assert refused.headers["Content-Type"].startswith("application/problem+json")


async def _corrective_work(connection: DbConnection, tenant: str, student: str) -> int:
    """A corrective work event at version 1 of a new stream (applied as soon as it is visible:
    it makes no state); its position."""
    data = (
        f'{{"type": "corrective_work_recorded.v1", "tenant_id": "{tenant}", '
        f'"student_id": "{student}", "standard_id": "{STANDARD}", "work_id": "w", '
        '"recorded_at": "2026-10-01T09:30:00Z"}'
    )
    position: int = await connection.fetchval(
        "INSERT INTO attempt_events (tenant_id, stream_id, stream_version, event_id, event_type, "
        "data, recorded_at) VALUES ($1, $2, 1, $3, 'corrective_work_recorded.v1', $4, now()) "
        "RETURNING global_position",
        tenant, f"{tenant}/{student}/{STANDARD}", uuid.uuid4(), data,
    )  # fmt: skip
    return position


async def test_the_watermark_never_passes_a_position_whose_transaction_may_still_commit(
    pool: asyncpg.Pool,
) -> None:
    tenant, _ = await new_tenant(pool)
    async with pool.acquire() as early, pool.acquire() as late, pool.acquire() as reader:
        transaction = early.transaction()
        await transaction.start()
        in_flight = await _corrective_work(early, tenant, "ann")
        committed = await _corrective_work(late, tenant, "bob")
        assert committed > in_flight
        # A look claims what it saw; a later one proves the claim only once every transaction
        # that could hold a position below it has ended: never while `early` is open.
        for _ in range(3):
            await raise_watermarks(reader, [tenant])
            seen = await look(reader, tenant, committed)
            assert seen.reached  # the acknowledged write is readable
            assert seen.watermark < in_flight

        # One look answers for several tenants, each from its own log.
        other, _ = await new_tenant(pool)
        both = await looks(reader, {tenant: committed, other: committed})
        assert both[tenant].reached
        assert not both[other].reached

        await transaction.commit()

        async def raised() -> int:
            await raise_watermarks(reader, [tenant])
            return (await look(reader, tenant, None)).watermark

        # Other sessions of the server count too, so it may take a few looks.
        await eventually(raised, lambda watermark: watermark >= committed)
