"""A class's report card through the running services, as CSV and as an Excel workbook, against
hand-computed rows (the class of tests/support/classes.py, whose standards take the latest score
on the 1-4 scale; letters are the default level bands)."""

import csv
import io
from typing import Any

import asyncpg
import openpyxl
import pytest

from devtools.embedded import SmtpSink
from services.mastery.adapters import report_card_http
from shared.platform.bus import BusNames
from tests.support.classes import attempt, class_setup
from tests.support.polling import eventually
from tests.support.servers import Servers
from tests.support.system import System, running_system
from tests.support.tenants import new_tenant

HEADER = [
    "Student ID", "Student name", "Term",
    "ela.argument level", "ela.argument level label", "ela.argument letter", "ela.argument markers",
    "math.fractions level", "math.fractions level label", "math.fractions letter",
    "math.fractions markers",
]  # fmt: skip
# Ana: ela 3, math 2 2 3 4; Ben: math 3; Cy: math 1 2 and a missing ela (a marker, not a zero).
EVERYTHING = [
    HEADER,
    ["ana", "", "", "3", "Proficient", "B", "", "4", "Advanced", "A", ""],
    ["ben", "", "", "", "", "", "", "3", "Proficient", "B", ""],
    ["cy", "", "", "", "", "", "missing 1", "2", "Developing", "D", ""],
]
# In the fall term (Sep 1 - Oct 9) Ana's math is 2 then 2; Cy's missing ela (Oct 12) is out.
FALL = [
    HEADER,
    ["ana", "", "Fall", "3", "Proficient", "B", "", "2", "Developing", "D", ""],
    ["ben", "", "Fall", "", "", "", "", "3", "Proficient", "B", ""],
    ["cy", "", "Fall", "", "", "", "", "2", "Developing", "D", ""],
]


async def _csv(system: System, auth: dict[str, str], query: str = "") -> list[list[str]]:
    got = await system.mastery.get(f"/v1/classes/7b/report-card.csv{query}", headers=auth)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "text/csv; charset=utf-8"
    assert "content-length" not in got.headers  # streamed, not one body
    assert got.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))


async def test_a_class_report_card_as_csv_and_as_a_workbook(
    pool: asyncpg.Pool,
    database_url: str,
    servers: Servers,
    bus: BusNames,
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report_card_http, "CHUNK", 2)  # three students: two chunks
    _, auth = await new_tenant(pool)
    async with running_system(database_url, servers.nats_url, smtp_sink.url, bus) as system:
        await class_setup(system, auth)
        marker: dict[str, Any] = {**attempt("c3", "cy", "ela.argument", 0, 12), "status": "missing"}
        del marker["score"]
        recorded = await system.attempts.post("/v1/attempts", json=marker, headers=auth)
        assert recorded.status_code in (200, 201), recorded.text

        everything = await eventually(lambda: _csv(system, auth), lambda rows: rows == EVERYTHING)
        assert everything == EVERYTHING
        assert await _csv(system, auth, "?term=fall") == FALL

        got = await system.mastery.get("/v1/classes/7b/report-card.xlsx", headers=auth)
        assert got.status_code == 200, got.text
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"report-card.xlsx\"; filename*=UTF-8''report-card-7b.xlsx"
        )
        sheet = openpyxl.load_workbook(io.BytesIO(got.content), read_only=True)["Report card"]
        # A trailing empty cell is not stored; read back, the row is shorter.
        rows = [
            [*row, *[None] * (len(HEADER) - len(row))] for row in sheet.iter_rows(values_only=True)
        ]
        assert rows[0] == HEADER
        assert rows[1:] == [
            ["ana", None, None, 3, "Proficient", "B", None, 4, "Advanced", "A", None],
            ["ben", None, None, None, None, None, None, 3, "Proficient", "B", None],
            ["cy", None, None, None, None, None, "missing 1", 2, "Developing", "D", None],
        ]

        for path in ("/v1/classes/nope/report-card.csv", "/v1/classes/7b/report-card.xlsx"
                     "?term=spring"):  # fmt: skip
            missing = await system.mastery.get(path, headers=auth)
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
