"""Each input the services once took or crashed on: refused with a problem naming the field,
and nothing stored. Every case here was reproduced against the code before the fix."""

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import attempt_events_sql, define_standard, new_tenant

PROBLEM = "application/problem+json"


@pytest.fixture
async def system(
    database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> AsyncIterator[System]:
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as running:
        yield running


def _fields(answer: Any) -> list[str]:
    assert answer.headers["content-type"].startswith(PROBLEM), answer.text
    return [error["field"] for error in answer.json().get("errors", [])]


@pytest.mark.parametrize(
    ("guardian", "field"),
    [({"email": "Bcc:evil@evil.com"}, "guardians[0].email"),
     ({"email": "=?utf-8?q?evil?=@example.org"}, "guardians[0].email"),
     ({"email": "=?utf-8?b?ZXZpbA==?=@example.org"}, "guardians[0].email"),
     ({"email": "rosa@example.org", "name": "Rosa\r\nBcc: evil@evil.com"}, "guardians[0].name"),
     ({"email": "rosa@example.org", "name": "Rosa\nGarcía"}, "guardians[0].name"),
     ({"email": "rosa@example.org", "name": "Rosa\u2028García"}, "guardians[0].name"),
     ({"email": "rosa@example.org", "name": "Rosa\u0085García"}, "guardians[0].name"),
     ({"email": "rosa@example.org", "name": "Rosa\tGarcía"}, "guardians[0].name")],
)  # fmt: skip
async def test_guardian_addresses_and_names_that_could_carry_a_header_are_refused(
    system: System, pool: asyncpg.Pool, guardian: dict[str, str], field: str
) -> None:
    _, auth = await new_tenant(pool)
    answer = await system.notify.put(
        "/v1/students/maya/guardians", json={"guardians": [guardian]}, headers=auth
    )
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == [field]
    assert await pool.fetchval("SELECT count(*) FROM guardians") == 0


async def test_a_guardian_address_is_stored_in_its_normal_form(
    system: System, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    body = {"guardians": [{"email": "Rosa@Example.ORG", "name": "Rosa García-Núñez"},
                          {"email": "rosa@xn--bcher-kva.example"}]}  # fmt: skip
    answer = await system.notify.put("/v1/students/maya/guardians", json=body, headers=auth)
    assert answer.status_code == 200, answer.text
    stored = await system.notify.get("/v1/students/maya/guardians", headers=auth)
    assert [item["email"] for item in stored.json()["guardians"]] == [
        "Rosa@example.org",
        "rosa@bücher.example",
    ]


def _attempt(**changes: object) -> dict[str, object]:
    attempt = {
        "attempt_id": "quiz-1", "student_id": "maya", "standard_id": "math.1", "score": 3,
        "assessed_at": "2026-10-01T09:30:00Z",
    }  # fmt: skip
    return attempt | changes


@pytest.mark.parametrize("offset", ["+16:00", "-14:30", "+23:59"])
async def test_an_offset_beyond_14_hours_is_refused_naming_the_field(
    system: System, pool: asyncpg.Pool, bus: BusNames, offset: str
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant, "math.1")
    late = _attempt(assessed_at=f"2026-10-01T09:30:00{offset}")
    single = await system.attempts.post("/v1/attempts", json=late, headers=auth)
    batch = await system.attempts.post(
        "/v1/attempts/batch", json={"attempts": [_attempt(attempt_id="q0"), late]}, headers=auth
    )
    calc = await system.mastery.post(
        "/v1/calculate",
        json={"scores": [{"score": 3, "assessed_at": late["assessed_at"]}]},
        headers=auth,
    )
    assert (single.status_code, batch.status_code, calc.status_code) == (422, 422, 422)
    assert _fields(single) == ["assessed_at"]
    assert _fields(batch) == ["attempts[1].assessed_at"]
    assert _fields(calc) == ["scores[0].assessed_at"]
    assert "outside -14:00 to +14:00" in single.json()["detail"]
    assert await pool.fetchval(attempt_events_sql()) == 0


async def test_an_offset_within_14_hours_is_stored_in_utc(
    system: System, pool: asyncpg.Pool, bus: BusNames
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant, "math.1")
    kiribati = _attempt(assessed_at="2026-10-02T09:30:00+14:00")
    answer = await system.attempts.post("/v1/attempts", json=kiribati, headers=auth)
    assert answer.status_code == 201, answer.text
    assert answer.json()["assessed_at"] == "2026-10-01T19:30:00Z"
    stored = await pool.fetchval(attempt_events_sql("data->>'assessed_at'"))
    assert stored == "2026-10-01T19:30:00Z"
    again = await system.attempts.post("/v1/attempts", json=kiribati, headers=auth)
    assert again.status_code == 200, again.text  # the same attempt, replayed


DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_json_nested_100000_deep_is_400_on_every_service(
    system: System, pool: asyncpg.Pool
) -> None:
    _, auth = await new_tenant(pool)
    headers = auth | {"content-type": "application/json"}
    answers = [
        await system.attempts.post("/v1/attempts", content=DEEP, headers=headers),
        await system.attempts.put("/v1/standards/math.1", content=DEEP, headers=headers),
        await system.mastery.post("/v1/calculate", content=DEEP, headers=headers),
        await system.notify.put("/v1/students/maya/guardians", content=DEEP, headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.headers["content-type"].startswith(PROBLEM)
        assert answer.json()["type"] == "/problems/body-too-deep"
    # Deeper than any schema but shallow enough to read: validation names the field.
    nested = {"scores": [{"score": json.loads("[" * 50 + "]" * 50)}]}
    shallow = await system.mastery.post("/v1/calculate", json=nested, headers=auth)
    assert shallow.status_code == 422, shallow.text
    assert _fields(shallow) == ["scores[0].score"]


async def test_a_body_over_the_limit_is_413_problem(system: System, pool: asyncpg.Pool) -> None:
    _, auth = await new_tenant(pool)
    big = {"attempts": [_attempt(attempt_id=f"q{n}", student_id="m" * 128) for n in range(6_000)]}
    answer = await system.attempts.post("/v1/attempts/batch", json=big, headers=auth)
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize(
    ("body", "field"),
    [({"scores": [{"score": 3}], "scale": {"kind": "points", "maximum": 1e300}}, "scale.maximum"),
     ({"scores": [{"score": 1e26}]}, "scores[0].score"),
     ({"method": "average", "scores": [{"score": 1.7e308}, {"score": 1.7e308}]},
      "scores[0].score scores[1].score"),
     ({"scores": [{"score": 1e-300, "points_possible": 1e-300},
                  {"score": 5, "points_possible": 4}]},
      "scores[1].score"),
     ({"scores": [{"score": 3}], "scale": {"mastery_threshold": -1e300}},
      "scale.mastery_threshold"),
     ({"method": "decaying_average", "parameter": 1e308, "scores": [{"score": 3}]},
      "parameter")],
)  # fmt: skip
async def test_calculator_inputs_out_of_bounds_are_422_naming_the_field(
    system: System, pool: asyncpg.Pool, body: dict[str, object], field: str
) -> None:
    _, auth = await new_tenant(pool)
    answer = await system.mastery.post("/v1/calculate", json=body, headers=auth)
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == field.split()  # every invalid field, in the body's order


# Control (C0, C1), format (bidi override, zero-width) and separator (no-break space, line and
# paragraph separators) characters, percent-encoded as a client would put them in a path.
SNEAKY = {"\u0085": "%C2%85", "\u00a0": "%C2%A0", "\u200b": "%E2%80%8B",
          "\u202e": "%E2%80%AE", "\u2028": "%E2%80%A8", "\u2029": "%E2%80%A9",
          "\ufeff": "%EF%BB%BF", "\x1b": "%1B", "\x00": "%00"}  # fmt: skip


@pytest.mark.parametrize(("character", "encoded"), SNEAKY.items())
async def test_ids_with_control_format_or_separator_characters_are_refused_everywhere(
    system: System, pool: asyncpg.Pool, bus: BusNames, character: str, encoded: str
) -> None:
    tenant, auth = await new_tenant(pool)
    await define_standard(pool, bus, tenant, "math.1")
    body_id = await system.attempts.post(
        "/v1/attempts", json=_attempt(student_id=f"ma{character}ya"), headers=auth
    )
    work_id = await system.attempts.post(
        "/v1/students/maya/standards/math.1/corrective-work",
        json={"work_id": f"w{character}1"},
        headers=auth,
    )
    paths = [
        await system.mastery.get(f"/v1/students/ma{encoded}ya/mastery", headers=auth),
        await system.attempts.get(f"/v1/standards/math{encoded}1", headers=auth),
        await system.attempts.post(f"/v1/attempts/q{encoded}1/void", json={"reason": "x"},
                                   headers=auth),
        await system.notify.get(f"/v1/students/ma{encoded}ya/guardians", headers=auth),
    ]  # fmt: skip
    assert _fields(body_id) == ["student_id"]
    assert _fields(work_id) == ["work_id"]
    for answer in [body_id, work_id, *paths]:
        assert answer.status_code in (400, 422), (answer.url, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)
    assert await pool.fetchval(attempt_events_sql()) == 0
