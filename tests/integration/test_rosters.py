"""Rosters through the running mastery service: a OneRoster 1.2 zip imported whole (or not at all,
with every bad line named), the class API, and a class's mastery rollup and analytics from
attempts recorded through the attempts service."""

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from devtools.embedded import SmtpSink
from services.cli import main
from shared.platform.bus import BusNames
from tests.support.classes import ZIP, class_setup
from tests.support.oneroster_sample import sample_files, zipped
from tests.support.polling import eventually
from tests.support.roles import service_url
from tests.support.servers import Servers
from tests.support.system import running_system
from tests.support.tenants import new_key, new_tenant

TABLES = ("roster_orgs", "roster_terms", "roster_classes", "roster_people", "roster_enrollments")


async def counts(pool: asyncpg.Pool, tenant: str) -> dict[str, int]:
    found = {}
    for table in (*TABLES, "roster_log"):
        found[table] = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE tenant_id = $1",
            tenant,
        )
    return found


async def test_a_sample_school_imports_in_under_ten_seconds_and_again_records_nothing(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, auth = await new_tenant(pool)
    body = zipped(sample_files(classes=30, students=700))
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        started = time.perf_counter()
        response = await system.mastery.post(
            "/v1/rosters/oneroster", content=body, headers={**auth, **ZIP}
        )
        took = time.perf_counter() - started
        assert response.status_code == 200, response.text
        # 30 teachers, 700 students, 1,050 guardians; 30 + 1,400 enrollments.
        assert response.json()["defined"] == {
            "org": 1, "term": 2, "class": 30, "person": 1780, "enrollment": 1430,
        }  # fmt: skip
        assert took < 10, f"the import took {took:.2f}s"
        assert await counts(pool, tenant) == {
            "roster_orgs": 1, "roster_terms": 2, "roster_classes": 30, "roster_people": 1780,
            "roster_enrollments": 1430, "roster_log": 3243,
        }  # fmt: skip
        again = await system.mastery.post(
            "/v1/rosters/oneroster", content=body, headers={**auth, **ZIP}
        )
        assert again.json()["changes"] == 0
        assert (await counts(pool, tenant))["roster_log"] == 3243
        classes = (await system.mastery.get("/v1/classes", headers=auth)).json()["items"]
        assert len(classes) == 30
        one = (await system.mastery.get("/v1/classes/class-00", headers=auth)).json()
        students = [m for m in one["members"] if m["role"] == "student"]
        assert len(students) == 47  # 700 students x 2 classes over 30 classes, 46 or 47 each
        assert students[0] == {"person_id": "student-0000", "role": "student",
                               "display_name": "Given0 Family0"}  # fmt: skip


async def test_a_malformed_roster_imports_nothing_and_names_every_bad_line(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    tenant, auth = await new_tenant(pool)
    files = sample_files(classes=2, students=3)
    files["enrollments.csv"] = files["enrollments.csv"].replace(b",student,", b",pupil,", 1)
    files["orgs.csv"] += b"org-2,active,2026-13-01,Two,school,,\r\n"
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        response = await system.mastery.post(
            "/v1/rosters/oneroster", content=zipped(files), headers={**auth, **ZIP}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["type"] == "/problems/invalid-roster"
        assert {(e["file"], e["line"], e["field"]) for e in problem["errors"]} == {
            ("enrollments.csv", 4, "role"),
            ("orgs.csv", 3, "dateLastModified"),
        }
        assert set((await counts(pool, tenant)).values()) == {0}
        not_zip = await system.mastery.post(
            "/v1/rosters/oneroster", content=b"plain text", headers={**auth, **ZIP}
        )
        assert not_zip.status_code == 422
        assert not_zip.json()["errors"][0]["message"] == "not a zip file"
        _, reader = await new_key(pool, tenant, "read")
        refused = await system.mastery.post(
            "/v1/rosters/oneroster", content=zipped(files), headers={**reader, **ZIP}
        )
        assert refused.status_code == 403


def test_mastery_roster_import_reports_each_bad_line_or_imports(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant = f"school-{uuid.uuid4().hex[:8]}"
    assert main(["tenants", "create", tenant, "--database-url", database_url]) == 0
    url = service_url(database_url, "mastery")
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    files = sample_files(classes=2, students=3)
    good.write_bytes(zipped(files))
    files["classes.csv"] = files["classes.csv"].replace(b"scheduled", b"lecture")
    bad.write_bytes(zipped(files))
    assert main(["roster", "import", str(bad), "--tenant", tenant, "--database-url", url]) == 1
    err = capsys.readouterr().err
    assert "classes.csv:2 classType: must be one of homeroom, scheduled" in err
    assert "classes.csv:3 classType" in err
    assert asyncio.run(_counted(database_url, tenant))["roster_log"] == 0
    assert main(["roster", "import", str(good), "--tenant", tenant, "--database-url", url]) == 0
    assert '"changes": 22' in capsys.readouterr().out
    assert asyncio.run(_counted(database_url, tenant))["roster_classes"] == 2


async def _counted(database_url: str, tenant: str) -> dict[str, int]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return await counts(pool, tenant)
    finally:
        await pool.close()


async def test_a_class_rollup_and_its_analytics_from_recorded_attempts(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        await class_setup(system, auth)

        async def rollup() -> dict[str, Any]:
            got = await system.mastery.get("/v1/classes/7b/mastery", headers=auth)
            body: dict[str, Any] = got.json()
            return body

        body = await eventually(
            rollup,
            lambda b: (
                [s["assessed"] for s in b["standards"]] == [1, 3]
                and b["standards"][1]["students"][0]["level"] == 4
            ),
        )
        ela, math = body["standards"]
        assert (body["students"], ela["standard_id"], math["standard_id"]) == (
            3, "ela.argument", "math.fractions",
        )  # fmt: skip
        assert [c["students"] for c in math["distribution"]] == [0, 1, 1, 1]
        assert (math["mastered"], math["share_mastered"]) == (2, 0.67)
        assert [(s["student_id"], s["level"]) for s in math["students"]] == [
            ("ana", 4), ("ben", 3), ("cy", 2),
        ]  # fmt: skip
        term_query = "term=fall&standard=math.fractions"
        in_term = (
            await system.mastery.get(f"/v1/classes/7b/mastery?{term_query}", headers=auth)
        ).json()
        [math_then] = in_term["standards"]
        assert [c["students"] for c in math_then["distribution"]] == [0, 2, 1, 0]
        assert math_then["share_mastered"] == 0.33

        first = (await system.mastery.get("/v1/classes/7b/mastery?limit=1", headers=auth)).json()
        assert [s["standard_id"] for s in first["standards"]] == ["ela.argument"]
        second = (await system.mastery.get(
            f"/v1/classes/7b/mastery?limit=1&cursor={first['next_cursor']}", headers=auth
        )).json()  # fmt: skip
        assert [s["standard_id"] for s in second["standards"]] == ["math.fractions"]
        assert second["next_cursor"] is None
        edited = await system.mastery.get(
            f"/v1/classes/7b/mastery?limit=1&cursor={first['next_cursor']}x", headers=auth
        )
        assert edited.status_code == 400

        analytics = (await system.mastery.get("/v1/classes/7b/analytics", headers=auth)).json()
        math_growth, ela_growth = analytics["standards"]
        assert (math_growth["standard_id"], math_growth["reassessments"]) == ("math.fractions", 4)
        assert math_growth["reassessments_per_student"] == 1.33
        assert (math_growth["median_attempts_to_mastery"], math_growth["median_days_to_mastery"]) \
            == (2.0, 5.0)  # fmt: skip
        ana = math_growth["students"][0]
        assert (ana["first_level"], ana["latest_level"], ana["slope"]) == (2, 4, 0.7)
        assert ela_growth["students_assessed"] == 1

        gone = await system.mastery.delete("/v1/classes/7b/students/cy", headers=auth)
        assert gone.status_code == 204
        after = (await system.mastery.get("/v1/classes/7b/mastery", headers=auth)).json()
        assert after["students"] == 2
        missing = await system.mastery.get("/v1/classes/nope/mastery", headers=auth)
        assert missing.status_code == 404
        nowhere = await system.mastery.put("/v1/classes/nope/students/ana", headers=auth)
        assert nowhere.status_code == 404
        no_term = await system.mastery.get("/v1/classes/7b/mastery?term=spring", headers=auth)
        assert no_term.status_code == 404
