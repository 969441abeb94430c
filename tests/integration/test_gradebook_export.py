"""A class's proficiencies as a OneRoster 1.2 gradebook through the running services, REST and
bulk CSV, against hand-computed records and the specification's field lists
(tests/support/oneroster_gradebook.py). The class is tests/support/classes.py's, with a school,
a CASE GUID on math, Ben excused and Cy missing on ELA."""

import csv
import io
import zipfile
from typing import Any

import asyncpg

from devtools.embedded import SmtpSink
from shared.platform.bus import BusNames
from tests.support.classes import attempt, class_setup
from tests.support.oneroster_gradebook import CSV_COLUMNS, gradebook_errors
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

GUID = "c6e9d9a4-1a43-11e8-9d1e-0242ac150002"
BASE = "/v1/oneroster/gradebook/classes/7b"
KNOWN = {"user": {"ana", "ben", "cy"}, "class": {"7b"}, "org": {"north"}}
LEVELS = [
    {"itemValueLHS": str(value), "itemValueRHS": label}
    for value, label in ((1, "Beginning"), (2, "Developing"), (3, "Proficient"), (4, "Advanced"))
]


def marker(attempt_id: str, student: str, status: str, day: int) -> dict[str, Any]:
    found = {**attempt(attempt_id, student, "ela.argument", 0, day), "status": status}
    del found["score"]
    return found


async def _setup(system: System, auth: dict[str, str]) -> None:
    await class_setup(system, auth)
    put = await system.attempts.put(
        "/v1/standards/math.fractions", json={"title": "Fractions", "case_guid": GUID}, headers=auth
    )
    assert put.status_code == 200, put.text
    moved = await system.mastery.put(
        "/v1/classes/7b", json={"title": "Grade 7 B", "term_ids": ["fall"], "school_id": "north"},
        headers=auth,
    )  # fmt: skip
    assert moved.status_code == 200, moved.text
    for item in (marker("b9", "ben", "excused", 4), marker("c9", "cy", "missing", 12)):
        recorded = await system.attempts.post("/v1/attempts", json=item, headers=auth)
        assert recorded.status_code == 201, recorded.text


async def _collections(system: System, auth: dict[str, str], query: str = "") -> dict[str, Any]:
    found = {}
    for kind, path in (("result", "results"), ("lineItem", "lineItems"),
                       ("scoreScale", "scoreScales"), ("category", "categories")):  # fmt: skip
        got = await system.mastery.get(f"{BASE}/{path}{query}", headers=auth)
        assert got.status_code == 200, got.text
        found[kind] = got.json()[path]
    return found


def _summary(results: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (r["sourcedId"], r["scoreStatus"], r.get("score"), r.get("textScore"), r["scoreDate"],
         r.get("missing"))
        for r in results
    ]  # fmt: skip


async def test_a_class_gradebook_as_oneroster_results_line_items_and_score_scales(
    pool: asyncpg.Pool, database_url: str, servers: Servers, bus: BusNames, smtp_sink: SmtpSink
) -> None:
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        await _setup(system, auth)
        book = await eventually(
            lambda: _collections(system, auth),
            lambda b: len(b["result"]) == 6 and "learningObjectiveSet" in b["lineItem"][1],
        )
        assert gradebook_errors(book, KNOWN) == []
        assert _summary(book["result"]) == [
            ("7b:ela.argument:ana", "fully graded", 3, "Proficient", "2026-10-03", None),
            ("7b:ela.argument:ben", "exempt", None, None, "2026-10-04", None),
            ("7b:ela.argument:cy", "not submitted", None, None, "2026-10-12", "true"),
            ("7b:math.fractions:ana", "fully graded", 4, "Advanced", "2026-10-20", None),
            ("7b:math.fractions:ben", "fully graded", 3, "Proficient", "2026-10-02", None),
            ("7b:math.fractions:cy", "fully graded", 2, "Developing", "2026-10-08", None),
        ]
        ana_math = book["result"][3]
        assert ana_math["learningObjectiveSet"] == [{"source": "case", "learningObjectiveResults": [
            {"learningObjectiveId": GUID, "score": 4, "textScore": "Advanced"}]}]  # fmt: skip
        assert ana_math["lineItem"]["sourcedId"] == "7b:math.fractions"
        ela, math = book["lineItem"]
        assert "learningObjectiveSet" not in ela  # no CASE GUID
        assert (math["title"], math["learningObjectiveSet"]) == (
            "Fractions", [{"source": "case", "learningObjectiveIds": [GUID]}])  # fmt: skip
        assert (math["assignDate"], math["dueDate"]) == (
            "2026-10-01T09:00:00.000Z", "2026-10-20T09:00:00.000Z")  # fmt: skip
        assert (math["resultValueMin"], math["resultValueMax"], math["school"]["sourcedId"]) == (
            1, 4, "north")  # fmt: skip
        assert [s["scoreScaleValue"] for s in book["scoreScale"]] == [LEVELS, LEVELS]

        # In the fall term (Sep 1 - Oct 9): Ana's math is 2, Cy's missing ELA (Oct 12) is out.
        fall = await _collections(system, auth, "?term=fall")
        assert gradebook_errors(fall, {**KNOWN, "academicSession": {"fall"}}) == []
        assert [(r["sourcedId"], r.get("score")) for r in fall["result"]] == [
            ("7b:ela.argument:ana", 3), ("7b:ela.argument:ben", None),
            ("7b:math.fractions:ana", 2), ("7b:math.fractions:ben", 3),
            ("7b:math.fractions:cy", 2),
        ]  # fmt: skip
        assert (fall["lineItem"][1]["dueDate"], fall["lineItem"][1]["gradingPeriod"]["sourcedId"]) \
            == ("2026-10-09T23:59:59.000Z", "fall")  # fmt: skip

        got = await system.mastery.get(f"{BASE}/bulk.zip", headers=auth)
        assert (got.status_code, got.headers["content-type"]) == (200, "application/zip")
        _check_bulk(got.content, book)

        for path in ("/v1/oneroster/gradebook/classes/nope/results", f"{BASE}/bulk.zip?term=x"):
            missing = await system.mastery.get(path, headers=auth)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"


def _check_bulk(content: bytes, book: dict[str, Any]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(content))
    files = {
        name: list(csv.DictReader(io.StringIO(archive.read(name).decode())))
        for name in archive.namelist()
    }
    headers = {name: next(csv.reader(io.StringIO(archive.read(name).decode())))
               for name in archive.namelist()}  # fmt: skip
    for name, columns in CSV_COLUMNS.items():
        assert headers[name] == columns, name
    manifest = {row["propertyName"]: row["value"] for row in files["manifest.csv"]}
    assert (manifest["manifest.version"], manifest["oneroster.version"]) == ("1.0", "1.2")
    for name in CSV_COLUMNS:
        assert manifest[f"file.{name.removesuffix('.csv')}"] == "bulk", name
    assert manifest["file.users"] == "absent"
    # The same records as the REST collections, and every reference resolves in the files.
    results = files["results.csv"]
    assert [r["sourcedId"] for r in results] == [r["sourcedId"] for r in book["result"]]
    assert [(r["score"], r["textScore"], r["scoreStatus"]) for r in results][:4] == [
        ("3", "Proficient", "fully graded"), ("", "", "exempt"), ("", "", "not submitted"),
        ("4", "Advanced", "fully graded"),
    ]  # fmt: skip
    items = {row["sourcedId"] for row in files["lineItems.csv"]}
    scales = {row["sourcedId"] for row in files["scoreScales.csv"]}
    assert {r["lineItemSourcedId"] for r in results} == items
    assert {row["categorySourcedId"] for row in files["lineItems.csv"]} == {
        row["sourcedId"] for row in files["categories.csv"]
    }
    assert {row["scoreScaleSourcedId"] for row in files["resultScoreScales.csv"]} <= scales
    assert files["resultLearningObjectiveIds.csv"][0] == {
        "resultSourcedId": "7b:math.fractions:ana", "source": "case", "learningObjectiveId": GUID,
        "score": "4", "textScore": "Advanced",
    }  # fmt: skip
    assert files["lineItemLearningObjectiveIds.csv"] == [
        {"lineItemSourcedId": "7b:math.fractions", "source": "case", "learningObjectiveId": GUID}
    ]
    assert files["scoreScales.csv"][0]["scoreScaleValue"] == (
        "1:Beginning,2:Developing,3:Proficient,4:Advanced"
    )
