"""The standards event family: each school's grading policy, recorded by the attempts service.

A standard's stream is `<tenant>//standards/<standard id>`, the tenant's default policy stream
`<tenant>//policy` (the double slash cannot occur in a student stream id). They travel on the
attempts stream (`attempts.<tenant>.standard_defined`, `attempts.<tenant>.policy_set`), so the
mastery projector sees a standard's policy before any attempt recorded against it.
"""

from datetime import datetime

import msgspec

from shared.contract.actor import Actor
from shared.contract.grading import (
    DEFAULT_LETTERS,
    CalculationPolicy,
    LetterGrade,
    Method,
    ProficiencyScale,
)


class ReassessmentPolicy(msgspec.Struct, frozen=True, kw_only=True):
    # Attempts after the first; None means unlimited.
    max_reassessments: int | None = None
    # A reassessment is accepted only after corrective work recorded since the previous attempt.
    corrective_work_required: bool = False


class StandardEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    tenant_id: str


class StandardDefined(StandardEvent, frozen=True, kw_only=True, tag="standard_defined.v1"):
    """A standard created or changed; the whole definition, so the newest one is the truth."""

    standard_id: str
    title: str
    case_guid: str | None = None
    scale: ProficiencyScale
    method: Method | None = None  # None: the tenant's default method
    parameter: float | None = None
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] | None = None
    reassessment: ReassessmentPolicy = ReassessmentPolicy()
    defined_at: datetime
    actor: Actor | None = None  # the API key that made the change; None before it was recorded


class TenantPolicySet(StandardEvent, frozen=True, kw_only=True, tag="tenant_policy_set.v1"):
    """The tenant's default method for standards without one, and the methods it allows."""

    method: Method
    parameter: float | None = None
    allowed_methods: tuple[Method, ...]
    set_at: datetime
    actor: Actor | None = None
    # Letters for standards without their own (None: the default level bands). Additive: events
    # written before it read as None.
    letters: tuple[LetterGrade, ...] | None = None


AnyStandardEvent = StandardDefined | TenantPolicySet

STANDARDS_SUBJECT_KIND: dict[type, str] = {
    StandardDefined: "standard_defined",
    TenantPolicySet: "policy_set",
}


def standard_stream_id(tenant_id: str, standard_id: str) -> str:
    return f"{tenant_id}//standards/{standard_id}"


def policy_stream_id(tenant_id: str) -> str:
    return f"{tenant_id}//policy"


def effective_policy(
    standard: StandardDefined, tenant_policy: TenantPolicySet | None
) -> CalculationPolicy:
    """The calculation policy a standard's proficiencies use (not yet validated). Letters: the
    standard's own, else the tenant's, else the default level bands."""
    if standard.method is not None:
        method, parameter = standard.method, standard.parameter
    elif tenant_policy is not None:
        method, parameter = tenant_policy.method, tenant_policy.parameter
    else:
        method, parameter = "latest", None
    return CalculationPolicy(
        method=method,
        parameter=parameter,
        scale=standard.scale,
        floor_percent=standard.floor_percent,
        letters=standard.letters
        or (tenant_policy.letters if tenant_policy is not None else None)
        or DEFAULT_LETTERS,
    )
