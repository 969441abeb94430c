"""Bulk resync: GET /v1/mastery pages through the tenant's whole read model with a keyset
cursor, stable while writes go on, with the positions its pages reflect."""

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

STANDARDS = ("ela.argument", "math.fractions")
STUDENTS = [f"s{n:02d}" for n in range(20)]


def attempt(attempt_id: str, student: str, standard: str, score: float) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id,
        "student_id": student,
        "standard_id": standard,
        "score": score,
        "assessed_at": "2026-10-01T09:30:00Z",
    }


async def post_batch(system: System, auth: dict[str, str], items: list[dict[str, Any]]) -> int:
    response = await system.attempts.post(
        "/v1/attempts/batch", json={"attempts": items}, headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["refused"] == 0, response.text
    return int(response.headers["X-Log-Position"])


async def page(system: System, auth: dict[str, str], query: str) -> dict[str, Any]:
    response = await system.mastery.get(f"/v1/mastery?{query}", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["X-Read-Model-Stale"] == "false"
    assert int(response.headers["X-Read-Model-Position"]) >= 0
    body: dict[str, Any] = response.json()
    return body


async def setup(system: System, auth: dict[str, str]) -> int:
    for standard in STANDARDS:
        put = await system.attempts.put(
            f"/v1/standards/{standard}", json={"title": standard}, headers=auth
        )
        assert put.status_code == 201, put.text
    items = [
        attempt(f"{student}-{standard}-1", student, standard, 1 + n % 4)
        for n, (student, standard) in enumerate(
            (student, standard) for student in STUDENTS for standard in STANDARDS
        )
    ]
    return await post_batch(system, auth, items)


async def test_pages_cover_every_row_once_while_writes_continue(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        written = await setup(system, auth)
        first = await page(system, auth, f"limit=7&min_position={written}")
        pages, round_ = [first], 0
        while pages[-1]["next_cursor"]:
            round_ += 1
            # Writes between pages: new rows before and after the cursor, and updates.
            await post_batch(system, auth, [
                attempt(f"aa{round_}-new", f"aa{round_}", STANDARDS[0], 2),
                attempt(f"zz{round_}-new", f"zz{round_}", STANDARDS[1], 3),
                attempt(f"s00-again-{round_}", "s00", STANDARDS[0], 4),
            ])  # fmt: skip
            pages.append(await page(system, auth, f"limit=7&cursor={pages[-1]['next_cursor']}"))

        keys = [(row["student_id"], row["standard_id"]) for body in pages for row in body["items"]]
        assert len(keys) == len(set(keys)), "a row was served twice"
        assert keys == sorted(keys)
        expected = {(student, standard) for student in STUDENTS for standard in STANDARDS}
        assert expected <= set(keys), expected - set(keys)
        assert all(len(body["items"]) <= 7 for body in pages)
        assert len(pages) >= 6
        # Every page repeats the first page's positions.
        assert {(body["position"], body["changes_position"]) for body in pages} == {
            (first["position"], first["changes_position"])
        }
        assert first["changes_position"] > 0

        async def newest_change() -> int:
            return int(
                await pool.fetchval(
                    "SELECT max(position) FROM mastery_changes WHERE tenant_id = $1", tenant
                )
            )

        # The changes the writes between pages cause come after it: they are the ones to resume
        # from (the projector may still be applying them).
        await eventually(newest_change, lambda newer: newer > first["changes_position"])


async def test_a_tampered_cursor_is_refused(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        written = await setup(system, auth)
        cursor = (await page(system, auth, f"limit=5&min_position={written}"))["next_cursor"]
        assert cursor
        flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
        for bad in (flipped, cursor[:-3], "not-a-cursor", cursor + "AAAA"):
            response = await system.mastery.get(f"/v1/mastery?cursor={bad}", headers=auth)
            assert response.status_code == 400, (bad, response.text)
            assert response.headers["Content-Type"].startswith("application/problem+json")
            assert response.json()["type"].endswith("/invalid-cursor")
        other_filter = await system.mastery.get(
            f"/v1/mastery?cursor={cursor}&standard=math.fractions", headers=auth
        )
        assert other_filter.status_code == 400
        for query in ("limit=0", "limit=1001", "updated_since=2026-10-01T09:30:00"):
            response = await system.mastery.get(f"/v1/mastery?{query}", headers=auth)
            assert response.status_code == 422, (query, response.text)


async def test_filters_by_standard_and_by_when_a_row_was_written(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        written = await setup(system, auth)
        everything = await page(system, auth, f"limit=1000&min_position={written}")
        assert len(everything["items"]) == len(STUDENTS) * len(STANDARDS)
        assert everything["next_cursor"] is None

        one_standard = await page(system, auth, "standard=math.fractions")
        assert {row["standard_id"] for row in one_standard["items"]} == {"math.fractions"}
        assert len(one_standard["items"]) == len(STUDENTS)

        newest = max(datetime.fromisoformat(row["updated_at"]) for row in everything["items"])
        since = (newest + timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")
        later = await post_batch(system, auth, [attempt("s07-again", "s07", STANDARDS[1], 4)])
        changed = await page(system, auth, f"updated_since={since}&min_position={later}")
        assert [(row["student_id"], row["standard_id"]) for row in changed["items"]] == [
            ("s07", STANDARDS[1])
        ]
        assert changed["items"][0]["level"] == 4
