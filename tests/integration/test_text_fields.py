"""Free text with NUL or control codes is a 422, never a 500 from PostgreSQL (found by the fuzz)."""

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_tenant

BAD = ["nul\x00inside", "bell\x07", "esc\x1b[0m"]


@pytest.mark.parametrize("text", BAD)
async def test_control_characters_in_free_text_are_refused_by_every_service(
    pool: asyncpg.Pool,
    database_url: str,
    servers: Servers,
    bus: BusNames,
    smtp_sink: SmtpSink,
    text: str,
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        answers = {
            "guardian name": await system.notify.put(
                "/v1/students/maya/guardians",
                json={"guardians": [{"email": "a@example.org", "name": text}]},
                headers=auth,
            ),
            "guardian email": await system.notify.put(
                "/v1/students/maya/guardians",
                json={"guardians": [{"email": f"a{text}@example.org"}]},
                headers=auth,
            ),
            "standard title": await system.attempts.put(
                "/v1/standards/math.1", json={"title": text}, headers=auth
            ),
        }
        fine = await system.notify.put(
            "/v1/students/maya/guardians",
            json={"guardians": [{"email": "a@example.org", "name": "Zoë O'Neil-Núñez"}]},
            headers=auth,
        )
    assert {name: answer.status_code for name, answer in answers.items()} == {
        name: 422 for name in answers
    }
    assert fine.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM standards") == 0


async def test_ids_and_addresses_ending_in_a_newline_are_refused_and_nothing_is_stored(
    pool: asyncpg.Pool,
    database_url: str,
    servers: Servers,
    bus: BusNames,
    smtp_sink: SmtpSink,
) -> None:
    _, auth = await new_tenant(pool)
    attempt = {
        "attempt_id": "quiz-1", "student_id": "maya\n", "standard_id": "math.1", "score": 3,
        "points_possible": 4, "assessed_at": "2026-10-01T09:30:00Z",
    }  # fmt: skip
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        answers = {
            "student id in a body": await system.attempts.post(
                "/v1/attempts", json=attempt, headers=auth
            ),
            "student id in a path": await system.mastery.get(
                "/v1/students/maya%0A/mastery", headers=auth
            ),
            "control code in a path": await system.mastery.get(
                "/v1/students/ma%07ya/mastery", headers=auth
            ),
            "guardian email": await system.notify.put(
                "/v1/students/maya/guardians",
                json={"guardians": [{"email": "rosa@example.org\n"}]},
                headers=auth,
            ),
        }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert set(statuses.values()) <= {400, 422}, statuses
    for answer in answers.values():
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert await pool.fetchval("SELECT count(*) FROM attempt_events") == 0
    assert await pool.fetchval("SELECT count(*) FROM guardians") == 0
