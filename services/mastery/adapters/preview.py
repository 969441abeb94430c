"""`POST /v1/standards/{id}/policy-preview`: a proposed policy against the standard's evidence.

Reads the standard's stored definition and effective policy, the tenant's default policy and every
evidence record on the standard, in one read-only transaction, and hands them to the pure
`core/preview.py`. Changes nothing: no state, no evidence, no event, no outbox row. Scope `read`:
it shows what `GET /v1/students/{s}/mastery` already shows to such a key, under another policy,
and a teacher weighing a change should not need the key that makes it.
"""

from collections.abc import Iterable

import msgspec
from litestar import Controller, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import JSONBody

from services.mastery.adapters.read_model import EVIDENCE, record_of_row
from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.evidence import EvidenceRecord
from services.mastery.core.preview import (
    Effect,
    Preview,
    Proposal,
    ProposalRefused,
    preview,
    proposed_policy,
)
from services.mastery.core.student_standard import StudentStandardKey
from shared.contract.events.standards import StandardDefined, TenantPolicySet
from shared.contract.grading import letter_threshold, parameter_in_force
from shared.contract.policy_fields import FieldRefused, PolicyFieldsIn, letters_of, scale_of
from shared.platform.auth import requires
from shared.platform.http import PathId, Problem
from shared.platform.openapi import problem
from shared.platform.postgres import DbConnection
from shared.platform.tenant_scope import tenant_connection

_definition = msgspec.json.Decoder(StandardDefined)
_tenant_policy = msgspec.json.Decoder(TenantPolicySet)
_policy = msgspec.json.Decoder(CalculationPolicy)
_LOAD_RECORDS = (
    f"SELECT {EVIDENCE.listed} FROM mastery_evidence "  # noqa: S608 (built from a Struct)
    "WHERE tenant_id = $1 AND standard_id = $2"
)


class LetterOut(msgspec.Struct, frozen=True, kw_only=True):
    letter: str
    min_score: float  # the lowest score on the standard's scale that earns it


class PolicyOut(msgspec.Struct, frozen=True, kw_only=True):
    method: str
    parameter: float | None  # the one in force: the method's default when none is given
    mastery_threshold: float
    floor_percent: float | None
    letters: list[LetterOut]


class OutcomeOut(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None


class StudentPreviewOut(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    current: OutcomeOut
    proposed: OutcomeOut
    effect: Effect
    level_changes: bool


class CountsOut(msgspec.Struct, frozen=True, kw_only=True):
    students: int
    gain: int
    lose: int
    keep: int
    not_mastered: int
    level_changes: int


class PreviewOut(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    current_policy: PolicyOut
    proposed_policy: PolicyOut
    counts: CountsOut
    students: list[StudentPreviewOut]


class UnknownStandard(LookupError):
    """No definition of the standard has reached the mastery service."""


def policy_view(policy: CalculationPolicy) -> PolicyOut:
    thresholds = sorted((letter_threshold(g, policy.scale), g.letter) for g in policy.letters)
    return PolicyOut(
        method=policy.method,
        parameter=parameter_in_force(policy.method, policy.parameter),
        mastery_threshold=policy.scale.mastery_threshold,
        floor_percent=policy.floor_percent,
        letters=[LetterOut(letter=letter, min_score=low) for low, letter in thresholds[::-1]],
    )


def preview_view(standard_id: str, result: Preview, current: CalculationPolicy,
                 proposed: CalculationPolicy) -> PreviewOut:  # fmt: skip
    return PreviewOut(
        standard_id=standard_id,
        current_policy=policy_view(current),
        proposed_policy=policy_view(proposed),
        counts=msgspec.convert(result.counts, CountsOut, from_attributes=True),
        students=[
            msgspec.convert(student, StudentPreviewOut, from_attributes=True)
            for student in result.students
        ],
    )


def proposal_of(fields: PolicyFieldsIn) -> Proposal:
    """Raises FieldRefused (a custom scale without its threshold)."""
    scale = scale_of(fields)
    return Proposal(
        scale=scale,
        method=fields.method,
        parameter=fields.parameter,
        floor_percent=fields.floor_percent,
        letters=letters_of(fields.letters, scale),
    )


async def preview_standard(
    connection: DbConnection, tenant: str, standard_id: str, fields: PolicyFieldsIn
) -> PreviewOut:
    """Raises UnknownStandard, FieldRefused or ProposalRefused; writes nothing."""
    proposal = proposal_of(fields)
    async with connection.transaction(readonly=True):
        row = await connection.fetchrow(
            "SELECT definition::text, policy::text FROM standard_policies "
            "WHERE tenant_id = $1 AND standard_id = $2",
            tenant,
            standard_id,
        )
        if row is None:
            raise UnknownStandard(standard_id)
        tenant_row = await connection.fetchval(
            "SELECT policy::text FROM tenant_default_policies WHERE tenant_id = $1", tenant
        )
        records = await connection.fetch(_LOAD_RECORDS, tenant, standard_id)
    current = _policy.decode(row["policy"])
    tenant_policy = _tenant_policy.decode(tenant_row) if tenant_row is not None else None
    proposed = proposed_policy(_definition.decode(row["definition"]), tenant_policy, proposal)
    evidence = _live_by_student(record_of_row(record) for record in records)
    return preview_view(standard_id, preview(evidence, current, proposed), current, proposed)


def _live_by_student(
    rows: Iterable[tuple[StudentStandardKey, EvidenceRecord]],
) -> dict[str, list[Evidence]]:
    evidence: dict[str, list[Evidence]] = {}
    for key, record in rows:
        live = evidence.setdefault(key.student_id, [])
        if not record.voided:
            live.append(record.evidence)
    return evidence


class PreviewController(Controller):
    path = "/v1/standards"
    tags = ["mastery"]  # noqa: RUF012

    @post(
        "/{standard_id:str}/policy-preview",
        status_code=200,
        opt=requires("read"),
        summary="What a policy change would do to each student (changes nothing)",
        description="The body takes the policy fields of `PUT /v1/standards/{id}` (on the attempts "
        "service) with their meaning there: a field left out takes its default.",
        responses={
            404: problem("No such standard"),
            422: problem("Invalid; `errors` names the field"),
        },
    )
    async def policy_preview(
        self,
        standard_id: PathId,
        data: JSONBody[PolicyFieldsIn],
        tenant: NamedDependency[str],
        state: State,
    ) -> PreviewOut:
        try:
            async with tenant_connection(state.pool, tenant) as connection:
                return await preview_standard(connection, tenant, standard_id, data)
        except UnknownStandard as unknown:
            detail = f"no standard {standard_id!r}"
            raise Problem(404, "unknown-standard", "No such standard", detail) from unknown
        except (FieldRefused, ProposalRefused) as refused:
            errors = [{"field": refused.field, "message": refused.message}]
            raise Problem(
                422, "invalid-policy", "The proposed policy is not valid", str(refused),
                errors=errors,
            ) from refused  # fmt: skip
