"""HTTP adapter of a class's OneRoster 1.2 gradebook (`core/gradebook.py`): the REST collections
as the specification shapes them (`{"results": [...]}`, ...) under
`/v1/oneroster/gradebook/classes/{class_id}/`, and the same records as the bulk CSV zip
(`core/gradebook_csv.py`). The class's students and standards are the class reports'.
"""

import csv
import io
import zipfile
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from services.mastery.adapters.class_http import class_students, standard_ids, standings
from services.mastery.adapters.policies import stored_standards
from services.mastery.adapters.report_card_http import attachment
from services.mastery.adapters.roster_views import one_class, term_of
from services.mastery.core.class_rollup import Span
from services.mastery.core.gradebook import (
    Category,
    Gradebook,
    GradebookClass,
    LineItem,
    Result,
    ScoreScale,
    gradebook,
)
from services.mastery.core.gradebook_csv import bulk_files
from shared.contract.ids import OPAQUE_ID_DESCRIPTION, OPAQUE_ID_PATTERN
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.tenant_scope import tenant_connection

BASE = "/v1/oneroster/gradebook/classes"

QueryId = Annotated[
    str | None, QueryParameter(pattern=OPAQUE_ID_PATTERN, description=OPAQUE_ID_DESCRIPTION)
]


class Results(msgspec.Struct, frozen=True):
    results: list[Result]


class LineItems(msgspec.Struct, frozen=True, rename="camel"):
    line_items: list[LineItem]


class ScoreScales(msgspec.Struct, frozen=True, rename="camel"):
    score_scales: list[ScoreScale]


class Categories(msgspec.Struct, frozen=True):
    categories: list[Category]


async def load_gradebook(state: State, tenant: str, class_id: str, term: str | None) -> Gradebook:
    async with tenant_connection(state.pool, tenant) as connection:
        students = await class_students(connection, tenant, class_id)
        klass = await one_class(connection, tenant, class_id)
        found = await term_of(connection, tenant, term) if term else None
        if term and found is None:
            raise Problem(404, "not-found", "No such term", f"no term {term!r}")
        span = Span(start=found.start_date, end=found.end_date) if found else None
        ids = list(students)
        standards = await standard_ids(connection, tenant, ids, None)
        stood = await standings(connection, tenant, ids, standards, span)
        definitions, _ = await stored_standards(connection, [(tenant, s) for s in standards])
    return gradebook(
        GradebookClass(
            class_id=class_id,
            school_id=klass.school_id if klass else None,
            term_id=term,
            span=span,
            base=f"{BASE}/{class_id}",
        ),
        {standard: definition for (_, standard), definition in definitions.items()},
        stood,
        datetime.now(UTC),
    )


def zipped(files: dict[str, list[list[str]]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in files.items():
            text = io.StringIO()
            csv.writer(text, lineterminator="\r\n").writerows(rows)
            archive.writestr(name, text.getvalue())
    return out.getvalue()


_RESPONSES = {404: ResponseSpec(None, description="No such class, or no such term")}
_TERM = (
    " With `term`, only evidence assessed within the term's dates counts, and the line items "
    "are due within it (their `gradingPeriod`)."
)


class GradebookController(Controller):
    path = BASE
    tags = ["oneroster"]  # noqa: RUF012

    @get(
        "/{class_id:str}/results",
        opt=requires("read"),
        summary="A class's proficiencies as OneRoster 1.2 results",
        description="One result per student of the class and standard with evidence: `score` "
        "the proficiency score, `textScore` the level's label, `learningObjectiveSet` the "
        "standard's CASE GUID; markers only: `not submitted` (`missing`, `incomplete`) or "
        "`exempt` (excused)." + _TERM,
        responses=_RESPONSES,
    )
    async def results(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> Results:
        return Results(results=(await load_gradebook(state, tenant, class_id, term)).results)

    @get(
        "/{class_id:str}/lineItems",
        opt=requires("read"),
        summary="A class's standards as OneRoster 1.2 line items",
        description="One line item per standard the class's students have evidence on, with the "
        "standard's CASE GUID in `learningObjectiveSet` and its score scale." + _TERM,
        responses=_RESPONSES,
    )
    async def line_items(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> LineItems:
        book = await load_gradebook(state, tenant, class_id, term)
        return LineItems(line_items=book.line_items)

    @get(
        "/{class_id:str}/scoreScales",
        opt=requires("read"),
        summary="The standards' proficiency levels as OneRoster 1.2 score scales",
        description="One score scale per line item: each level's value and label." + _TERM,
        responses=_RESPONSES,
    )
    async def score_scales(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> ScoreScales:
        book = await load_gradebook(state, tenant, class_id, term)
        return ScoreScales(score_scales=book.score_scales)

    @get(
        "/{class_id:str}/categories",
        opt=requires("read"),
        summary="The one OneRoster 1.2 category the line items belong to",
        responses=_RESPONSES,
    )
    async def categories(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> Categories:
        book = await load_gradebook(state, tenant, class_id, term)
        return Categories(categories=book.categories)

    @get(
        "/{class_id:str}/bulk.zip",
        opt=requires("read"),
        summary="The class's gradebook as OneRoster 1.2 bulk CSV (a zip with manifest.csv)",
        description="`categories.csv`, `scoreScales.csv`, `lineItems.csv`, `results.csv`, the "
        "link files `lineItemLearningObjectiveIds.csv`, `lineItemScoreScales.csv`, "
        "`resultLearningObjectiveIds.csv`, `resultScoreScales.csv`, and `manifest.csv`: the "
        "records of the REST collections." + _TERM,
        media_type="application/zip",
        response_description="The bulk CSV files, zipped",
        responses=_RESPONSES,
    )
    async def bulk(
        self, class_id: PathId, *, tenant: NamedDependency[str], state: State, term: QueryId = None
    ) -> Response[bytes]:
        book = await load_gradebook(state, tenant, class_id, term)
        return Response(
            zipped(bulk_files(book)),
            media_type="application/zip",
            headers=attachment("gradebook", class_id, "zip"),
        )
