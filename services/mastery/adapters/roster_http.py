"""HTTP adapter of the roster: the OneRoster 1.2 CSV import and the plain class API.

Every write goes through the roster log (`roster_store.record_changes`): a class created or a
student enrolled here is a roster event like a line of an imported file.
"""

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from services.mastery.adapters.roster_import import ImportSummary, import_zip
from services.mastery.adapters.roster_store import Decide, record_changes
from services.mastery.adapters.roster_views import ClassOut, classes_of, one_class
from services.mastery.core.oneroster import LineError
from services.mastery.core.roster import OnRecord, define, enroll, remove
from shared.contract.events.roster import ClassDefined, RosterChange
from shared.contract.ids import PLAIN_TEXT_PATTERN, OpaqueId
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.tenant_scope import tenant_connection
from shared.platform.validation import FieldError

MAX_ZIP_BYTES = 50 * 1024 * 1024
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=PLAIN_TEXT_PATTERN)]


def invalid_roster(errors: list[LineError]) -> Problem:
    return Problem(
        422, "invalid-roster", "The roster is not valid",
        f"{len(errors)} problem(s) found; nothing was imported",
        errors=msgspec.to_builtins([line_error(error) for error in errors]),
    )  # fmt: skip


def line_error(error: LineError) -> FieldError:
    """A bad line as the problem's `errors` name it: the column, or the file when the whole file
    (or line) is wrong."""
    return FieldError(
        field=error.field or error.file, message=error.message, file=error.file, line=error.line
    )


class RosterController(Controller):
    path = "/v1/rosters"
    tags = ["rosters"]  # noqa: RUF012

    @post(
        "/oneroster",
        status_code=200,
        opt=requires("admin"),
        request_max_body_size=MAX_ZIP_BYTES,
        summary="Import a OneRoster 1.2 rostering CSV bulk zip (bulk or delta per its manifest)",
        description="The body is the zip (`application/zip`): manifest.csv and any of orgs.csv, "
        "academicSessions.csv, classes.csv, users.csv, enrollments.csv. All or nothing: a file "
        "with any bad line imports nothing and the 422 lists every bad line in `errors` (file, "
        "line, field, message). Each change is a roster event; importing the same file again "
        "records nothing.",
        responses={
            422: ResponseSpec(None, description="Bad lines: `errors` lists each one"),
            413: ResponseSpec(None, description="Larger than 50 MiB"),
        },
    )
    async def import_oneroster(
        self, request: Request[object, object, State], tenant: NamedDependency[str], state: State
    ) -> ImportSummary:
        body = await request.body()
        async with tenant_connection(state.pool, tenant) as connection:
            result = await import_zip(connection, tenant, body, datetime.now(UTC))
        if isinstance(result, list):
            raise invalid_roster(result)
        return result


class ClassIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Title
    school_id: OpaqueId | None = None
    term_ids: tuple[OpaqueId, ...] = ()
    class_code: Title | None = None


class ClassList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ClassOut]


_NOT_FOUND = {404: ResponseSpec(None, description="No such class")}


class ClassesController(Controller):
    path = "/v1/classes"
    tags = ["rosters"]  # noqa: RUF012

    @put(
        "/{class_id:str}",
        opt=requires("admin"),
        summary="Create or change a class",
        responses={422: ResponseSpec(None, description="Invalid body; `errors` names each field")},
    )
    async def put_class(
        self, class_id: PathId, data: JSONBody[ClassIn], tenant: NamedDependency[str], state: State
    ) -> ClassOut:
        event = ClassDefined(tenant_id=tenant, class_id=class_id, **msgspec.structs.asdict(data))
        await self._record(state, tenant, lambda record: define(record, event), ["class"])
        return await _class_out(state, tenant, class_id)

    @get("/", opt=requires("read"), summary="Every class of the tenant, by id")
    async def list_classes(self, tenant: NamedDependency[str], state: State) -> ClassList:
        async with tenant_connection(state.pool, tenant) as connection:
            return ClassList(items=await classes_of(connection, tenant))

    @get("/{class_id:str}", opt=requires("read"), summary="A class and its enrollments",
         responses=_NOT_FOUND)  # fmt: skip
    async def get_class(
        self, class_id: PathId, tenant: NamedDependency[str], state: State
    ) -> ClassOut:
        return await _class_out(state, tenant, class_id)

    @put(
        "/{class_id:str}/students/{student_id:str}",
        opt=requires("admin"),
        summary="Enroll a student in a class (again: nothing changes)",
        responses=_NOT_FOUND,
    )
    async def enroll_student(
        self, class_id: PathId, student_id: PathId, tenant: NamedDependency[str], state: State
    ) -> ClassOut:
        def decide(record: OnRecord) -> list[RosterChange]:
            _require_class(record, class_id)
            return enroll(record, tenant, class_id, student_id)

        await self._record(state, tenant, decide, ["class", "enrollment"])
        return await _class_out(state, tenant, class_id)

    @delete(
        "/{class_id:str}/students/{student_id:str}",
        opt=requires("admin"),
        summary="Unenroll a student from a class (every enrollment of theirs in it)",
        responses=_NOT_FOUND,
    )
    async def unenroll_student(
        self, class_id: PathId, student_id: PathId, tenant: NamedDependency[str], state: State
    ) -> None:
        def decide(record: OnRecord) -> list[RosterChange]:
            _require_class(record, class_id)
            keys = [
                key for key, entity in record.items()
                if key[0] == "enrollment" and getattr(entity, "class_id", None) == class_id
                and getattr(entity, "person_id", None) == student_id
            ]  # fmt: skip
            return [change for key in keys for change in remove(record, tenant, key)]

        await self._record(state, tenant, decide, ["class", "enrollment"])

    @staticmethod
    async def _record(state: State, tenant: str, decide: Decide, kinds: list[str]) -> None:
        async with tenant_connection(state.pool, tenant) as connection:
            await record_changes(connection, tenant, decide, datetime.now(UTC), kinds)


async def _class_out(state: State, tenant: str, class_id: str) -> ClassOut:
    async with tenant_connection(state.pool, tenant) as connection:
        found = await one_class(connection, tenant, class_id)
    if found is None:
        raise Problem(404, "not-found", "No such class", f"no class {class_id!r}")
    return found


def _require_class(record: OnRecord, class_id: str) -> None:
    """An enrollment names a class on record: 404 otherwise, before anything is written."""
    if ("class", class_id) not in record:
        raise Problem(404, "not-found", "No such class", f"no class {class_id!r}")
