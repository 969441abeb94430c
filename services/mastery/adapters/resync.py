"""Bulk resync: the tenant's whole read model, page by page, with the positions it reflects.

Pages follow the primary key (student, standard) with a keyset cursor, so rows written while a
client pages are neither repeated nor skipped among those that exist throughout; a row created
behind the cursor is a change after `changes_position` (see docs/architecture.md, "Resync").
The cursor is opaque but not secret: it carries the last key, the first page's positions and the
filters it was issued for, behind a checksum, so a cursor edited or cut is refused (400) rather
than read as some other place. It grants nothing: the tenant comes from the key.
"""

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.spec.enums import OpenAPIFormat
from litestar.params import QueryParameter

from services.mastery.adapters.freshness import (
    FRESHNESS_HEADERS,
    MinPosition,
    ReadWait,
    wait_for,
)
from services.mastery.adapters.positions import newest_change
from shared.contract.ids import OPAQUE_ID_DESCRIPTION, OPAQUE_ID_PATTERN, OpaqueId
from shared.contract.timestamps import offset_problem
from shared.platform.auth import requires
from shared.platform.http import Problem
from shared.platform.openapi import problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

DEFAULT_LIMIT = 500
MAX_LIMIT = 1_000
_CHECKSUM_BYTES = 8
_CHECKSUM_CONTEXT = b"mastery-resync-cursor.v1\x00"


class _Cursor(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    student_id: OpaqueId
    standard_id: OpaqueId
    position: Annotated[int, msgspec.Meta(ge=0)]
    changes_position: Annotated[int, msgspec.Meta(ge=0)]
    standard: OpaqueId | None
    updated_since: datetime | None


class ResyncRow(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    standard_id: str
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    method: str
    evidence_count: int
    last_assessed_at: datetime | None
    updated_at: datetime


class ResyncPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ResyncRow]
    # Pass it back as `cursor` for the next page; null on the last page.
    next_cursor: str | None
    # Both as of the first page, repeated on every page of one resync: every event of the
    # tenant's attempt log at or below `position`, and every mastery change at or below
    # `changes_position` (the change log's own positions), is reflected in every page.
    position: int
    changes_position: int


def encode_cursor(cursor: _Cursor) -> str:
    payload = msgspec.json.encode(cursor)
    return base64.urlsafe_b64encode(_checksum(payload) + payload).decode().rstrip("=")


def decode_cursor(text: str) -> _Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as error:
        raise _bad_cursor("not a cursor this service issued") from error
    checksum, payload = raw[:_CHECKSUM_BYTES], raw[_CHECKSUM_BYTES:]
    if not hmac.compare_digest(checksum, _checksum(payload)):
        raise _bad_cursor("not a cursor this service issued (edited or cut)")
    try:
        return msgspec.json.decode(payload, type=_Cursor)
    except msgspec.DecodeError as error:  # a ValidationError too
        raise _bad_cursor("not a cursor this service issued") from error


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(_CHECKSUM_CONTEXT + payload).digest()[:_CHECKSUM_BYTES]


def _bad_cursor(detail: str) -> Problem:
    return Problem(400, "invalid-cursor", "Invalid cursor", detail,
                   errors=[{"field": "cursor", "message": detail}])  # fmt: skip


_PAGE = """
SELECT student_id, standard_id, score, level, level_label, mastered, method, evidence_count,
       last_assessed_at, updated_at
  FROM proficiencies
 WHERE tenant_id = $1 AND (student_id, standard_id) > ($2, $3)
   AND ($4::text IS NULL OR standard_id = $4)
   AND ($5::timestamptz IS NULL OR updated_at >= $5)
 ORDER BY student_id, standard_id
 LIMIT $6
"""


async def _page(
    connection: DbConnection, tenant_id: str, after: _Cursor, limit: int
) -> list[ResyncRow]:
    rows = await connection.fetch(
        _PAGE, tenant_id, after.student_id, after.standard_id, after.standard,
        after.updated_since, limit,
    )  # fmt: skip
    return [ResyncRow(**dict(row)) for row in rows]


QueryId = Annotated[
    str | None,
    QueryParameter(
        pattern=OPAQUE_ID_PATTERN, description="Only this standard. " + OPAQUE_ID_DESCRIPTION
    ),
]


class ResyncController(Controller):
    path = "/v1/mastery"
    tags = ["mastery"]  # noqa: RUF012

    @get(
        "/",
        opt=requires("read"),
        summary="Every standing of the tenant, page by page, for an integration to resync",
        description="Ordered by student, then standard; `limit` 1-1000 (default 500). The first "
        "page's `position` and `changes_position` are repeated on every page: an integration "
        "that lost its stream pages through, then applies the mastery changes after "
        "`changes_position` (docs/architecture.md, Resync).",
        response_headers=FRESHNESS_HEADERS,
        responses={400: problem("A cursor this service did not issue")},
    )
    async def resync(
        self,
        *,
        tenant: NamedDependency[str],
        read_wait: NamedDependency[ReadWait],
        state: State,
        standard: QueryId = None,
        updated_since: Annotated[
            str | None,
            QueryParameter(
                description="Only standings written at or after this instant (RFC 3339).",
                format=OpenAPIFormat.DATE_TIME,
            ),
        ] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=2_048)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        min_position: MinPosition = None,
    ) -> Response[ResyncPage]:
        since = _instant(updated_since)
        fresh = await wait_for(state.pool, tenant, min_position, read_wait)
        async with tenant_connection(state.pool, tenant) as connection:
            after = await _start(
                connection, tenant, cursor, standard=standard, since=since, at=fresh.watermark
            )
            rows = await _page(connection, tenant, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        following = (
            encode_cursor(msgspec.structs.replace(
                after, student_id=rows[-1].student_id, standard_id=rows[-1].standard_id))
            if more else None
        )  # fmt: skip
        body = ResyncPage(
            items=rows,
            next_cursor=following,
            position=after.position,
            changes_position=after.changes_position,
        )
        return Response(body, headers=fresh.headers())


async def _start(
    connection: DbConnection,
    tenant_id: str,
    cursor: str | None,
    *,
    standard: str | None,
    since: datetime | None,
    at: int,
) -> _Cursor:
    """Where the page starts: after the cursor's key, or (first page) before every key, with the
    positions read before any row is (so every row read after reflects them)."""
    if cursor is None:
        changes = await newest_change(connection, tenant_id)
        return _Cursor("", "", at, changes, standard, since)
    after = decode_cursor(cursor)
    if (after.standard, after.updated_since) != (standard, since):
        raise _bad_cursor("issued for other filters: repeat the first page's standard and "
                          "updated_since with it")  # fmt: skip
    return after


def _instant(text: str | None) -> datetime | None:
    """`updated_since` as an instant. Read from its text as RFC 3339 only: a lax conversion
    would take `0.5` for a Unix time."""
    if text is None:
        return None
    try:
        value = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        problem: str | None = "not an RFC 3339 date-time (e.g. 2026-10-01T09:30:00Z)"
    else:
        problem = offset_problem(value)
    if problem is not None:
        raise Problem(422, "validation-error", "The request is not valid",
                      f"updated_since: {problem}",
                      errors=[{"field": "updated_since", "message": problem}])  # fmt: skip
    return value
