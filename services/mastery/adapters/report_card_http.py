"""HTTP adapter of a class's report card, as CSV and as an Excel workbook (`core/report_card.py`
makes the rows). The class, the term and the standards (the columns) are looked up before the
answer starts, so a 404 is a problem document; then the rows are worked out `CHUNK` students at
a time and sent as they are made. The workbook is written by openpyxl in write-only mode (rows
go to a temporary file, not into memory) and the file is sent in pieces.
"""

import asyncio
import csv
import io
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated

import asyncpg
import openpyxl
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.response import Stream

from services.mastery.adapters.class_http import class_students, standard_ids, standings
from services.mastery.adapters.roster_views import term_of
from services.mastery.core.class_rollup import Span
from services.mastery.core.report_card import Cell, csv_value, header, report_card_rows
from shared.contract.ids import OPAQUE_ID_DESCRIPTION, OPAQUE_ID_PATTERN
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.tenant_scope import tenant_connection

CHUNK = 200  # students whose rows are worked out and sent at a time
_PIECE = 64 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

QueryId = Annotated[
    str | None, QueryParameter(pattern=OPAQUE_ID_PATTERN, description=OPAQUE_ID_DESCRIPTION)
]


class ReportCard:
    """What the rows need, looked up before the answer starts."""

    def __init__(
        self,
        tenant: str,
        students: dict[str, str | None],
        standards: list[str],
        span: Span | None,
        term: str | None,
    ) -> None:
        self.tenant, self.students, self.standards = tenant, students, standards
        self.span, self.term = span, term

    async def rows(self, pool: asyncpg.Pool) -> AsyncIterator[list[list[Cell]]]:
        ids = list(self.students)
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            async with tenant_connection(pool, self.tenant) as connection:
                found = await standings(connection, self.tenant, chunk, self.standards, self.span)
            names = {student: self.students[student] for student in chunk}
            # The calculation is CPU work (about 0.1 s per 1,000 cells): off the event loop.
            yield await asyncio.to_thread(report_card_rows, names, self.standards, found, self.term)


async def _report_card(state: State, tenant: str, class_id: str, term: str | None) -> ReportCard:
    async with tenant_connection(state.pool, tenant) as connection:
        students = await class_students(connection, tenant, class_id)
        found = await term_of(connection, tenant, term) if term else None
        if term and found is None:
            raise Problem(404, "not-found", "No such term", f"no term {term!r}")
        span = Span(start=found.start_date, end=found.end_date) if found else None
        standards = await standard_ids(connection, tenant, list(students), None)
    # Sorted by id so a row's students come in the order the core sorts them.
    ordered = dict(sorted(students.items()))
    return ReportCard(tenant, ordered, standards, span, found.title if found else None)


def _csv_lines(rows: list[list[Cell]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([csv_value(cell) for cell in row] for row in rows)
    return out.getvalue().encode()


async def csv_stream(card: ReportCard, pool: asyncpg.Pool) -> AsyncIterator[bytes]:
    # A byte-order mark so spreadsheets read the names as UTF-8.
    yield "\ufeff".encode() + _csv_lines([list(header(card.standards))])
    async for rows in card.rows(pool):
        yield _csv_lines(rows)


async def xlsx_stream(card: ReportCard, pool: asyncpg.Pool) -> AsyncIterator[bytes]:
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Report card")
    sheet.append(header(card.standards))
    async for rows in card.rows(pool):
        for row in rows:
            sheet.append(row)
    with tempfile.TemporaryFile() as file:
        await asyncio.to_thread(workbook.save, file)
        file.seek(0)
        for piece in _pieces(file):
            yield piece


def _pieces(file: IO[bytes]) -> Iterator[bytes]:
    while piece := file.read(_PIECE):
        yield piece


def attachment(stem: str, class_id: str, extension: str) -> dict[str, str]:
    """A download's name with the class id (RFC 6266): percent-encoded in `filename*`, since an
    id may hold quotes or characters a header cannot carry; a plain fallback without it."""
    encoded = urllib.parse.quote(f"{stem}-{class_id}.{extension}", safe="")
    return {
        "Content-Disposition": f'attachment; filename="{stem}.{extension}"; '
        f"filename*=UTF-8''{encoded}"
    }


_RESPONSES = {404: ResponseSpec(None, description="No such class, or no such term")}
_DESCRIPTION = (
    "One row per student of the class (by id): `Student ID`, `Student name`, `Term`, then for "
    "each standard any of them has evidence on (by id) its `level`, `level label`, `letter` "
    "(the standard's level bands) and `markers` (missing, excused and incomplete work, counted: "
    "never a zero). No evidence: empty cells. With `term`, only evidence assessed within the "
    "term's dates counts and `Term` is its title. Text that a spreadsheet would read as a "
    "formula starts with an apostrophe. Sent as it is made."
)


class ReportCardController(Controller):
    path = "/v1/classes"
    tags = ["classes"]  # noqa: RUF012

    @get(
        "/{class_id:str}/report-card.csv",
        opt=requires("read"),
        summary="A class's report card as CSV (UTF-8 with a byte-order mark)",
        description=_DESCRIPTION,
        media_type="text/csv",
        response_description="The report card, one line per student, sent as it is made",
        responses=_RESPONSES,
    )
    async def report_card_csv(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> Stream:
        card = await _report_card(state, tenant, class_id, term)
        return Stream(
            csv_stream(card, state.pool),
            media_type="text/csv",
            headers=attachment("report-card", class_id, "csv"),
        )

    @get(
        "/{class_id:str}/report-card.xlsx",
        opt=requires("read"),
        summary="A class's report card as an Excel workbook",
        description=_DESCRIPTION + " Levels are numbers in the workbook.",
        media_type=XLSX,
        response_description="The report card, one sheet, one row per student",
        responses=_RESPONSES,
    )
    async def report_card_xlsx(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> Stream:
        card = await _report_card(state, tenant, class_id, term)
        return Stream(
            xlsx_stream(card, state.pool),
            media_type=XLSX,
            headers=attachment("report-card", class_id, "xlsx"),
        )
