"""HTTP -> PostgreSQL -> relay -> JetStream -> projector -> JetStream -> notifier -> SMTP."""

from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant


def _attempt(attempt_id: str, score: float, day: int) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": "maya",
        "standard_id": "ela.argument",
        "score": score,
        "points_possible": 4,
        "assessed_at": f"2026-10-{day:02d}T10:00:00Z",
    }


async def _mastery(system: System, auth: dict[str, str]) -> dict[str, Any]:
    response = await system.mastery.get("/v1/students/maya/mastery", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_student_goes_from_not_mastered_to_mastered_and_family_gets_one_email(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        put = await system.notify.put(
            "/v1/students/maya/guardians",
            json={"guardians": [{"email": "rosa.parent@example.org", "name": "Rosa"}]},
            headers=auth,
        )
        assert put.status_code == 200, put.text
        standard = await system.attempts.put(
            "/v1/standards/ela.argument", json={"title": "Argument writing"}, headers=auth
        )
        assert standard.status_code == 201, standard.text
        first = await system.attempts.post("/v1/attempts", json=_attempt("a1", 2, 1), headers=auth)
        assert first.status_code == 201, first.text
        developing = await eventually(
            lambda: _mastery(system, auth), lambda body: len(body["standards"]) == 1
        )
        assert developing["standards"][0]["mastered"] is False
        assert developing["standards"][0]["level"] == 2
        await eventually(
            lambda: _sent_count(pool), lambda count: count == 1
        )  # first result: Developing
        smtp_sink.messages.clear()

        second = await system.attempts.post("/v1/attempts", json=_attempt("a2", 3, 8), headers=auth)
        assert second.status_code == 201
        mastered = await eventually(
            lambda: _mastery(system, auth), lambda body: body["standards"][0]["mastered"]
        )
        standard = mastered["standards"][0]
        assert (standard["score"], standard["level"]) == (3, 3)
        assert standard["level_label"] == "Proficient"
        assert standard["evidence_count"] == 2

        await eventually(lambda: _sent_count(pool), lambda count: count == 2)
        await eventually(_nothing, lambda _: len(smtp_sink.messages) >= 1)
        # a score inside the same level is not a change: no further email
        third = await system.attempts.post(
            "/v1/attempts", json=_attempt("a3", 3.5, 9), headers=auth
        )
        assert third.status_code == 201
        await eventually(
            lambda: _mastery(system, auth), lambda body: body["standards"][0]["evidence_count"] == 3
        )
        assert await _sent_count(pool) == 2

    assert len(smtp_sink.messages) == 1
    message = smtp_sink.messages[0]
    assert message["To"] == "rosa.parent@example.org"
    assert message["Subject"] == "maya has mastered “Argument writing”"
    text = message.get_body(("plain",))
    assert text is not None
    assert "Proficient" in text.get_content()


async def _nothing() -> None:
    return None


async def _sent_count(pool: asyncpg.Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL")
    return count
