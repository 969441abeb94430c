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
    effective_letters_view,
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
    LetterGrade,
    Method,
    ProficiencyScale,
    parameter_in_force,
)
from shared.contract.ids import END_OF_STRING, PLAIN_TEXT_PATTERN
from shared.contract.policy_fields import (
    Bounded,
    FieldRefused,
    Letters,
    PolicyFieldsIn,
    letters_of,
    scale_of,
)
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem, uri
from shared.platform.openapi import problem
from shared.platform.tenant_scope import tenant_connection

CASE_GUID = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}" + END_OF_STRING
)


class ReassessmentIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_reassessments: (
        Annotated[
            int,
            msgspec.Meta(ge=0, le=100, description="Attempts after the first; null: unlimited."),
        ]
        | None
    ) = None
    corrective_work_required: bool = False


class StandardIn(PolicyFieldsIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The policy fields (shared with the mastery service's policy preview) and the rest."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300, pattern=PLAIN_TEXT_PATTERN)]
    case_guid: (
        Annotated[str, msgspec.Meta(pattern=CASE_GUID, description="1EdTech CASE item identifier.")]
        | None
    ) = None
    reassessment: ReassessmentIn = ReassessmentIn()


class PolicyIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    method: Method
    parameter: Bounded | None = None
    allowed_methods: Annotated[list[Method], msgspec.Meta(min_length=1)] | None = None
    letters: Annotated[
        Letters | None,
        msgspec.Meta(
            description="For standards without letters of their own; null: the default level "
            "bands. A letter may not use min_score here: the tenant's standards differ in scale."
        ),
    ] = None


def _scale(data: StandardIn) -> ProficiencyScale:
    try:
        return scale_of(data)
    except FieldRefused as refused:
        errors = [{"field": refused.field, "message": refused.message}]
        raise Problem(
            422, "validation-error", "The request is not valid", str(refused), errors=errors
        ) from refused


def _tenant_letters(data: PolicyIn) -> tuple[LetterGrade, ...] | None:
    if data.letters and any(letter.min_score is not None for letter in data.letters):
        message = (
            "a tenant's letters use min_position or min_fraction (its standards' scales differ)"
        )
        raise Problem(422, "validation-error", "The request is not valid", f"letters: {message}",
                      errors=[{"field": "letters", "message": message}])  # fmt: skip
    return letters_of(data.letters, None)


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
            422: problem("Invalid; `errors` names the field"),
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
        scale = _scale(data)
        command = DefineStandard(
            tenant_id=tenant,
            standard_id=standard_id,
            title=data.title,
            case_guid=data.case_guid,
            scale=scale,
            method=data.method,
            parameter=data.parameter,
            floor_percent=data.floor_percent,
            letters=letters_of(data.letters, scale),
            reassessment=ReassessmentPolicy(**msgspec.structs.asdict(data.reassessment)),
            actor=actor,
        )
        saved = await _saved(await standards.define(command, now=datetime.now(UTC)))
        view = await _standard_view(state, tenant, standard_id)
        created = saved.outcome == "created"
        headers = position_header(saved.position)
        if created:
            headers["Location"] = uri("v1", "standards", standard_id)
        return Response(view, status_code=201 if created else 200, headers=headers)

    @get(
        "/{standard_id:str}",
        opt=requires("read"),
        summary="A standard with its effective policy",
        responses={404: problem("No such standard")},
    )
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
        # The method's default when none is given: the number in force, never null.
        effective_parameter=parameter_in_force(effective.method, effective.parameter),
        effective_letters=effective_letters_view(effective.letters, effective.scale),
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
        responses={409: problem("A standard uses a method the allow-list removes")},
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
            letters=_tenant_letters(data),
            actor=actor,
        )
        saved = await _saved(await standards.set_policy(command, now=datetime.now(UTC)))
        return Response(await _policy_view(state, tenant), headers=position_header(saved.position))

    @get(
        "/",
        opt=requires("read"),
        summary="The tenant's default method and allowed methods",
        responses={404: problem("No tenant policy set yet")},
    )
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
