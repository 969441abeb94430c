"""What comes next, under the standard's own reassessment rules, from the standard's definition
through the projector's change event to the family's email."""

from email.message import EmailMessage
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import running_system
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


def _text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_each_email_says_the_reassessments_left_and_the_corrective_work_first(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        guardians = {"guardians": [{"email": "rosa.parent@example.org", "language": "es"}]}
        put = await system.notify.put("/v1/students/maya/guardians", json=guardians, headers=auth)
        assert put.status_code == 200, put.text
        rules = {"max_reassessments": 2, "corrective_work_required": True}
        definition = {"title": "Argument writing", "reassessment": rules}
        defined = await system.attempts.put(
            "/v1/standards/ela.argument", json=definition, headers=auth
        )
        assert defined.status_code == 201, defined.text

        first = await system.attempts.post("/v1/attempts", json=_attempt("a1", 1, 1), headers=auth)
        assert first.status_code == 201, first.text
        [opening] = await eventually(
            lambda: _messages(smtp_sink), lambda messages: len(messages) >= 1
        )
        work = await system.attempts.post(
            "/v1/students/maya/standards/ela.argument/corrective-work",
            json={"work_id": "w1", "note": "Rewrote the claim"},
            headers=auth,
        )
        assert work.status_code == 201, work.text
        second = await system.attempts.post("/v1/attempts", json=_attempt("a2", 2, 8), headers=auth)
        assert second.status_code == 201, second.text
        [_, moved] = await eventually(
            lambda: _messages(smtp_sink), lambda messages: len(messages) >= 2
        )

    # No reassessment yet, then one: both emails count from the standard's limit of two.
    assert "puede presentar 2 nuevas evaluaciones más en este estándar (de 2 permitidas)" in _text(
        opening
    )
    after_one = _text(moved)
    assert "puede presentar 1 nueva evaluación más en este estándar (de 2 permitidas)" in after_one
    assert "pide un trabajo de refuerzo con el docente antes de cada nueva evaluación" in after_one


async def _messages(smtp_sink: SmtpSink) -> list[EmailMessage]:
    return list(smtp_sink.messages)
