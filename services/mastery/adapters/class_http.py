"""HTTP adapter of the class reports: a class's mastery per standard and its reassessment and
growth analytics. The students come from the roster, their standings from the read model
(`proficiencies` and `mastery_evidence`), the arithmetic from the pure core.

Rollup pages follow the standards (by id) with an opaque cursor, as the resync does: it carries
the last standard and the filters it was issued for, behind a checksum.
"""

import base64
import binascii
import hashlib
import hmac
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from services.mastery.adapters.class_views import (
    StandardAnalyticsOut,
    StandardRollupOut,
    analytics_views,
    rollup_views,
)
from services.mastery.adapters.read_model import load_records
from services.mastery.adapters.roster_views import MemberOut, members_of, one_class, term_of
from services.mastery.core.analytics import class_analytics
from services.mastery.core.class_rollup import (
    Span,
    Standing,
    class_rollup,
    within,
)
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.student_standard import StudentStandard, StudentStandardKey
from shared.contract.ids import OPAQUE_ID_DESCRIPTION, OPAQUE_ID_PATTERN
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

DEFAULT_LIMIT = 20
MAX_LIMIT = 200
_CHECKSUM_CONTEXT = b"mastery-class-cursor.v1\x00"
_CHECKSUM_BYTES = 8
_state_decoder = msgspec.json.Decoder(StudentStandard)

QueryId = Annotated[
    str | None, QueryParameter(pattern=OPAQUE_ID_PATTERN, description=OPAQUE_ID_DESCRIPTION)
]


class ClassMastery(msgspec.Struct, frozen=True, kw_only=True):
    class_id: str
    term_id: str | None
    students: int
    standards: list[StandardRollupOut]
    next_cursor: str | None  # pass back as `cursor`; null on the last page


class ClassAnalytics(msgspec.Struct, frozen=True, kw_only=True):
    class_id: str
    term_id: str | None
    standards: list[StandardAnalyticsOut]


class _Cursor(msgspec.Struct, frozen=True, array_like=True):
    after: str
    standard: str | None
    term: str | None


def _encode(cursor: _Cursor) -> str:
    payload = msgspec.json.encode(cursor)
    return base64.urlsafe_b64encode(_checksum(payload) + payload).decode().rstrip("=")


def _decode(text: str, standard: str | None, term: str | None) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise _bad_cursor("not a cursor this service issued") from error
    checksum, payload = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if not hmac.compare_digest(checksum, _checksum(payload)):
        raise _bad_cursor("not a cursor this service issued (edited or cut)")
    try:
        cursor = msgspec.json.decode(payload, type=_Cursor)
    except msgspec.DecodeError as error:
        raise _bad_cursor("not a cursor this service issued") from error
    if (cursor.standard, cursor.term) != (standard, term):
        raise _bad_cursor("issued for other filters: repeat the first page's standard and term")
    return cursor


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(_CHECKSUM_CONTEXT + payload).digest()[:_CHECKSUM_BYTES]


def _bad_cursor(detail: str) -> Problem:
    return Problem(400, "invalid-cursor", "Invalid cursor", detail,
                   errors=[{"field": "cursor", "message": detail}])  # fmt: skip


async def class_students(
    connection: DbConnection, tenant: str, class_id: str
) -> dict[str, str | None]:
    if await one_class(connection, tenant, class_id) is None:
        raise Problem(404, "not-found", "No such class", f"no class {class_id!r}")
    members: list[MemberOut] = await members_of(connection, tenant, class_id)
    return {m.person_id: m.display_name for m in members if m.role == "student"}


async def term_span(connection: DbConnection, tenant: str, term: str | None) -> Span | None:
    if term is None:
        return None
    found = await term_of(connection, tenant, term)
    if found is None:
        raise Problem(404, "not-found", "No such term", f"no term {term!r}")
    return Span(start=found.start_date, end=found.end_date)


_STANDARDS = """
SELECT standard_id FROM proficiencies
 WHERE tenant_id = $1 AND student_id = ANY($2::text[])
   AND ($3::text IS NULL OR standard_id = $3) AND standard_id COLLATE "C" > $4
 GROUP BY standard_id ORDER BY standard_id COLLATE "C" LIMIT $5
"""
_STATES = """
SELECT state FROM proficiencies
 WHERE tenant_id = $1 AND student_id = ANY($2::text[]) AND standard_id = ANY($3::text[])
"""


async def standings(
    connection: DbConnection,
    tenant: str,
    students: list[str],
    standards: list[str],
    span: Span | None,
) -> list[Standing]:
    rows = await connection.fetch(_STATES, tenant, students, standards)
    states = [_state_decoder.decode(row["state"]) for row in rows]
    records: dict[StudentStandardKey, list[EvidenceRecord]] = {s.key: [] for s in states}
    for key, record in await load_records(connection, records):
        records[key].append(record)
    return [
        within(
            Standing(
                student_id=state.key.student_id,
                standard_id=state.key.standard_id,
                policy=state.policy,
                evidence=tuple(r.evidence for r in records[state.key] if not r.voided),
            ),
            span,
        )
        for state in states
    ]


async def standard_ids(
    connection: DbConnection, tenant: str, students: list[str], standard: str | None,
    *, after: str = "", limit: int = 1_000_000,
) -> list[str]:  # fmt: skip
    rows = await connection.fetch(_STANDARDS, tenant, students, standard, after, limit)
    return [row["standard_id"] for row in rows]


_RESPONSES = {
    404: ResponseSpec(None, description="No such class, or no such term"),
    400: ResponseSpec(None, description="A cursor this service did not issue"),
}


class ClassReportsController(Controller):
    path = "/v1/classes"
    tags = ["classes"]  # noqa: RUF012

    @get(
        "/{class_id:str}/mastery",
        opt=requires("read"),
        summary="A class's mastery per standard: the distribution by level, the share mastered "
        "and each student's level",
        description="The class's students (enrolled as students) on every standard any of them "
        "has evidence on, by standard id, `limit` standards a page (1-200, default 20). With "
        "`term`, only evidence assessed within the term's dates counts; with `standard`, only "
        "that standard.",
        responses=_RESPONSES,
    )
    async def class_mastery(
        self,
        class_id: PathId,
        *,
        tenant: NamedDependency[str],
        state: State,
        standard: QueryId = None,
        term: QueryId = None,
        cursor: Annotated[str | None, QueryParameter(max_length=2_048)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    ) -> ClassMastery:
        after = _decode(cursor, standard, term).after if cursor else ""
        async with tenant_connection(state.pool, tenant) as connection:
            students = await class_students(connection, tenant, class_id)
            span = await term_span(connection, tenant, term)
            ids = list(students)
            page = await standard_ids(
                connection, tenant, ids, standard, after=after, limit=limit + 1
            )
            found = await standings(connection, tenant, ids, page[:limit], span)
        following = _encode(_Cursor(page[limit - 1], standard, term)) if len(page) > limit else None
        return ClassMastery(
            class_id=class_id,
            term_id=term,
            students=len(students),
            standards=rollup_views(list(class_rollup(students, found))),
            next_cursor=following,
        )

    @get(
        "/{class_id:str}/analytics",
        opt=requires("read"),
        summary="Reassessment and growth per standard for a class's students",
        description="Per standard: how often the class's students were reassessed, the attempts "
        "and days they needed to reach mastery (median, mean), and each student's growth (first "
        "and latest level, slope in levels per attempt). Most reassessed standards first. With "
        "`term`, only evidence assessed within the term's dates; with `standard`, only that one.",
        responses={404: _RESPONSES[404]},
    )
    async def class_analytics(
        self,
        class_id: PathId,
        *,
        tenant: NamedDependency[str],
        state: State,
        standard: QueryId = None,
        term: QueryId = None,
    ) -> ClassAnalytics:
        async with tenant_connection(state.pool, tenant) as connection:
            students = await class_students(connection, tenant, class_id)
            span = await term_span(connection, tenant, term)
            ids = list(students)
            every = await standard_ids(connection, tenant, ids, standard)
            found = await standings(connection, tenant, ids, every, span)
        return ClassAnalytics(
            class_id=class_id,
            term_id=term,
            standards=analytics_views(list(class_analytics(ids, found))),
        )
