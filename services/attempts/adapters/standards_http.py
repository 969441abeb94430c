"""HTTP adapter for standards and the tenant's default policy."""

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from services.attempts.adapters.event_store import position_of
from services.attempts.adapters.http import position_header
from services.attempts.adapters.problems import problem_for
from services.attempts.adapters.standards_store import (
    Saved,
    StandardsStore,
    load_policy,
    load_standard,
    load_standards,
)
from services.attempts.adapters.views import (
    PolicyOut,
    StandardList,
    StandardOut,
    policy_view,
    standard_view,
)
from services.attempts.core.recording import Refuse
from services.attempts.core.standards import DefineStandard, SetTenantPolicy
from shared.contract.actor import Actor
from shared.contract.events.standards import (
    ReassessmentPolicy,
    effective_policy,
    policy_stream_id,
    standard_stream_id,
)
from shared.contract.grading import (
    DEFAULT_SCALE,
    LetterGrade,
    Level,
    Method,
    ProficiencyScale,
)
from shared.contract.ids import END_OF_STRING, PLAIN_TEXT_PATTERN
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.tenant_scope import tenant_connection

Bounded = Annotated[float, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
CASE_GUID = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + END_OF_STRING
)


class LevelIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    value: Bounded
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=PLAIN_TEXT_PATTERN)]
    min_score: Bounded


class ScaleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    levels: Annotated[list[LevelIn], msgspec.Meta(min_length=1, max_length=20)]
    minimum: Bounded
    maximum: Bounded


class LetterIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    letter: Annotated[str, msgspec.Meta(min_length=1, max_length=5, pattern=PLAIN_TEXT_PATTERN)]
    min_fraction: Annotated[float, msgspec.Meta(ge=0, le=1)]


class ReassessmentIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_reassessments: (
        Annotated[
            int,
            msgspec.Meta(ge=0, le=100, description="Attempts after the first; null: unlimited."),
        ]
        | None
    ) = None
    corrective_work_required: bool = False


class StandardIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=PLAIN_TEXT_PATTERN)]
    case_guid: (
        Annotated[str, msgspec.Meta(pattern=CASE_GUID, description="1EdTech CASE item identifier.")]
        | None
    ) = None
    scale: Annotated[
        ScaleIn | None, msgspec.Meta(description="Default: 1 Beginning to 4 Advanced.")
    ] = None
    mastery_threshold: Annotated[
        Bounded | None, msgspec.Meta(description="Default: the scale's (3 on the default).")
    ] = None
    method: Annotated[Method | None, msgspec.Meta(description="Null: the tenant's default.")] = None
    parameter: Bounded | None = None
    floor_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    letters: Annotated[list[LetterIn], msgspec.Meta(min_length=1, max_length=20)] | None = None
    reassessment: ReassessmentIn = ReassessmentIn()


class PolicyIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    method: Method
    parameter: Bounded | None = None
    allowed_methods: Annotated[list[Method], msgspec.Meta(min_length=1)] | None = None


def _scale(data: StandardIn) -> ProficiencyScale:
    if data.scale is None:
        base = DEFAULT_SCALE
    else:
        levels = tuple(Level(**msgspec.structs.asdict(level)) for level in data.scale.levels)
        base = ProficiencyScale(
            levels=levels,
            mastery_threshold=levels[-1].min_score,
            minimum=data.scale.minimum,
            maximum=data.scale.maximum,
        )
        if data.mastery_threshold is None:
            raise Problem(422, "validation-error", "The request is not valid",
                          "mastery_threshold: required with a custom scale",
                          errors=[{"field": "mastery_threshold",
                                   "message": "required with a custom scale"}])  # fmt: skip
    if data.mastery_threshold is None:
        return base
    return msgspec.structs.replace(base, mastery_threshold=data.mastery_threshold)


async def _saved(result: Saved | Refuse) -> Saved:
    if isinstance(result, Refuse):
        raise problem_for(result)
    return result


class StandardsController(Controller):
    path = "/v1/standards"
    tags = ["standards"]  # noqa: RUF012

    @put(
        "/{standard_id:str}",
        opt=requires("admin"),
        summary="Create or change a standard and its grading policy",
        responses={
            201: ResponseSpec(StandardOut, description="Created"),
            422: ResponseSpec(None, description="Invalid; `errors` names the field"),
        },
    )
    async def put_standard(
        self,
        standard_id: PathId,
        data: JSONBody[StandardIn],
        *,
        tenant: NamedDependency[str],
        actor: NamedDependency[Actor],
        standards: NamedDependency[StandardsStore],
        state: State,
    ) -> Response[StandardOut]:
        command = DefineStandard(
            tenant_id=tenant,
            standard_id=standard_id,
            title=data.title,
            case_guid=data.case_guid,
            scale=_scale(data),
            method=data.method,
            parameter=data.parameter,
            floor_percent=data.floor_percent,
            letters=tuple(LetterGrade(**msgspec.structs.asdict(x)) for x in data.letters)
            if data.letters
            else None,
            reassessment=ReassessmentPolicy(**msgspec.structs.asdict(data.reassessment)),
            actor=actor,
        )
        saved = await _saved(await standards.define(command, now=datetime.now(UTC)))
        view = await _standard_view(state, tenant, standard_id)
        return Response(
            view,
            status_code=201 if saved.outcome == "created" else 200,
            headers=position_header(saved.position),
        )

    @get("/{standard_id:str}", opt=requires("read"), summary="A standard with its effective policy")
    async def get_standard(
        self, standard_id: PathId, tenant: NamedDependency[str], state: State
    ) -> StandardOut:
        return await _standard_view(state, tenant, standard_id)

    @get("/", opt=requires("read"), summary="Every standard of the tenant")
    async def list_standards(self, tenant: NamedDependency[str], state: State) -> StandardList:
        async with tenant_connection(state.pool, tenant) as connection:
            standards = await load_standards(connection, tenant, None)
        return StandardList(standards=[standard_view(item) for item in standards.values()])


async def _standard_view(state: State, tenant: str, standard_id: str) -> StandardOut:
    async with tenant_connection(state.pool, tenant) as connection:
        found = await load_standard(connection, tenant, standard_id)
        policy = await load_policy(connection, tenant)
        stream = standard_stream_id(tenant, standard_id)
        position = await position_of(connection, stream, found[1]) if found else 0
    if found is None:
        raise Problem(404, "unknown-standard", "No such standard", f"no standard {standard_id!r}")
    standard, version = found
    effective = effective_policy(standard, policy[0] if policy else None)
    return StandardOut(
        standard=standard_view(standard),
        effective_method=effective.method,
        effective_parameter=effective.parameter,
        version=version,
        position=position,
    )


class PolicyController(Controller):
    path = "/v1/policy"
    tags = ["standards"]  # noqa: RUF012

    @put(
        "/",
        opt=requires("admin"),
        summary="Set the tenant's default method and its allow-list of methods",
    )
    async def put_policy(
        self,
        data: JSONBody[PolicyIn],
        tenant: NamedDependency[str],
        actor: NamedDependency[Actor],
        standards: NamedDependency[StandardsStore],
        state: State,
    ) -> Response[PolicyOut]:
        command = SetTenantPolicy(
            tenant_id=tenant,
            method=data.method,
            parameter=data.parameter,
            allowed_methods=tuple(data.allowed_methods) if data.allowed_methods else None,
            actor=actor,
        )
        saved = await _saved(await standards.set_policy(command, now=datetime.now(UTC)))
        return Response(await _policy_view(state, tenant), headers=position_header(saved.position))

    @get("/", opt=requires("read"), summary="The tenant's default method and allowed methods")
    async def get_policy(self, tenant: NamedDependency[str], state: State) -> PolicyOut:
        return await _policy_view(state, tenant)


async def _policy_view(state: State, tenant: str) -> PolicyOut:
    async with tenant_connection(state.pool, tenant) as connection:
        found = await load_policy(connection, tenant)
        stream = policy_stream_id(tenant)
        position = await position_of(connection, stream, found[1]) if found else 0
    if found is None:
        raise Problem(404, "no-policy", "No tenant policy",
                      "no default policy set: standards without a method use `latest`")  # fmt: skip
    return policy_view(found[0], position)
