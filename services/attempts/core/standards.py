"""Deciding changes to a tenant's standards and default policy. Pure.

A PUT that changes nothing records nothing; every real change is a `standard_defined.v1` or
`tenant_policy_set.v1` event, naming who made it (`actor`); who asks does not make a change.
"""

from collections.abc import Sequence
from datetime import datetime

import msgspec
from msgspec.structs import replace

from services.attempts.core.recording import Refuse
from services.attempts.core.refusals import InvalidField, MethodNotAllowed, RuleRefused
from shared.contract.actor import Actor
from shared.contract.events.standards import (
    ReassessmentPolicy,
    StandardDefined,
    TenantPolicySet,
    effective_policy,
)
from shared.contract.grading import (
    DEFAULT_SCALE,
    METHODS,
    InvalidPolicy,
    LetterGrade,
    Method,
    ProficiencyScale,
    validate_policy,
    validate_scale,
)


class DefineStandard(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    standard_id: str
    title: str
    case_guid: str | None = None
    scale: ProficiencyScale
    method: Method | None = None
    parameter: float | None = None
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] | None = None
    reassessment: ReassessmentPolicy = ReassessmentPolicy()
    actor: Actor | None = None


class SetTenantPolicy(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: str
    method: Method
    parameter: float | None = None
    allowed_methods: tuple[Method, ...] | None = None  # None: every method
    letters: tuple[LetterGrade, ...] | None = None  # None: the default level bands
    actor: Actor | None = None


class Unchanged(msgspec.Struct, frozen=True):
    """The request matches what is recorded: nothing to append."""


def decide_define_standard(
    command: DefineStandard,
    *,
    current: StandardDefined | None,
    tenant_policy: TenantPolicySet | None,
    now: datetime,
) -> StandardDefined | Unchanged | Refuse:
    event = StandardDefined(defined_at=now, **msgspec.structs.asdict(command))
    # The same definition, whenever and by whomever it was made, is no change.
    if current is not None and replace(current, defined_at=now, actor=command.actor) == event:
        return Unchanged()
    try:
        validate_scale(command.scale)
    except InvalidPolicy as error:
        return InvalidField(field="scale", message=str(error))
    try:
        validate_policy(effective_policy(event, tenant_policy))
    except InvalidPolicy as error:
        return InvalidField(field="parameter", message=str(error))
    allowed = tenant_policy.allowed_methods if tenant_policy else METHODS
    if command.method is not None and command.method not in allowed:
        return MethodNotAllowed(method=command.method, allowed=tuple(allowed))
    return event


def decide_set_policy(
    command: SetTenantPolicy,
    *,
    current: TenantPolicySet | None,
    standards: Sequence[StandardDefined],
    now: datetime,
) -> TenantPolicySet | Unchanged | Refuse:
    allowed = command.allowed_methods or tuple(METHODS)
    event = TenantPolicySet(
        tenant_id=command.tenant_id,
        method=command.method,
        parameter=command.parameter,
        allowed_methods=allowed,
        set_at=now,
        actor=command.actor,
        letters=command.letters,
    )
    if current is not None and replace(current, set_at=now, actor=command.actor) == event:
        return Unchanged()
    if command.method not in allowed:
        return InvalidField(
            field="method", message=f"the default method {command.method!r} is not allowed"
        )
    try:
        validate_policy(effective_policy(_any_standard(command.tenant_id, now), event))
    except InvalidPolicy as error:
        return InvalidField(field="parameter", message=str(error))
    using = sorted(s.standard_id for s in standards if s.method and s.method not in allowed)
    if using:
        return RuleRefused(
            rule="allowed_methods",
            detail=f"standards {', '.join(using)} use methods outside the new allow-list",
        )
    return event


def _any_standard(tenant_id: str, now: datetime) -> StandardDefined:
    """A standard without a method of its own, to check the default policy's parameter."""
    return StandardDefined(
        tenant_id=tenant_id, standard_id="-", title="-", scale=DEFAULT_SCALE, defined_at=now
    )
