"""What each refusal of the core means over HTTP: status, problem type, title and remedy.

`PROBLEM_KINDS` is the one table; the core's refusals name no status or endpoint, so the paths a
remedy points at live here, beside the routes they name.
"""

import msgspec
from msgspec.structs import replace

from services.attempts.core.recording import Refuse
from services.attempts.core.refusals import (
    Conflict,
    InvalidField,
    MethodNotAllowed,
    NotFound,
    RuleRefused,
    UndefinedStandard,
)
from shared.platform.http import PROBLEM_TYPE_BASE, FieldError, Problem


class ProblemKind(msgspec.Struct, frozen=True):
    status: int
    slug: str
    title: str
    # What would let the request through, formatted with the refusal's fields. A rule's remedy is
    # a member of the problem of its own; any other remedy ends the detail.
    remedy: str | None = None


_INVALID = "validation-error", "The request is not valid"

PROBLEM_KINDS: dict[str, ProblemKind] = {
    "invalid_field": ProblemKind(422, *_INVALID),
    "undefined_standard": ProblemKind(
        422, *_INVALID, remedy="define it first with PUT /v1/standards/{standard_id}"
    ),
    "method_not_allowed": ProblemKind(
        422, *_INVALID, remedy="PUT /v1/policy changes the allow-list"
    ),
    "max_reassessments": ProblemKind(
        409, "reassessment-limit-reached", "No reassessments left",
        remedy="void an attempt recorded in error, or raise max_reassessments on the standard",
    ),
    "corrective_work_required": ProblemKind(
        409, "corrective-work-required", "Corrective work comes first",
        remedy="POST /v1/students/{student_id}/standards/{standard_id}/corrective-work, "
        "then post the reassessment again",
    ),
    "allowed_methods": ProblemKind(
        409, "method-in-use", "A standard uses a method this allow-list removes",
        remedy="change those standards' method first, or keep their method allowed",
    ),
    "attempt_id_reused": ProblemKind(409, "attempt-id-conflict", "Attempt id already used"),
    "attempt_voided": ProblemKind(409, "attempt-voided", "Attempt already voided"),
    "attempt_not_found": ProblemKind(404, "not-found", "No such attempt"),
    "standard_not_found": ProblemKind(
        404, "unknown-standard", "No such standard",
        remedy="define it first with PUT /v1/standards/{id}",
    ),
}  # fmt: skip


class ProblemOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details for a refusal (the handler adds `instance` to a whole response)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    rule: str | None = None
    remedy: str | None = None


def kind_of(refusal: Refuse) -> str:
    match refusal:
        case RuleRefused(rule=rule):
            return rule
        case Conflict(reason=reason):
            return reason
        case NotFound(missing=missing):
            return f"{missing}_not_found"
        case InvalidField():
            return "invalid_field"
        case UndefinedStandard():
            return "undefined_standard"
        case MethodNotAllowed():
            return "method_not_allowed"


def problem_body(refusal: Refuse) -> ProblemOut:
    kind = PROBLEM_KINDS[kind_of(refusal)]
    remedy = kind.remedy.format(**msgspec.structs.asdict(refusal)) if kind.remedy else None
    problem = ProblemOut(
        type=PROBLEM_TYPE_BASE + kind.slug, title=kind.title, status=kind.status, detail=""
    )
    if isinstance(refusal, RuleRefused):
        return replace(problem, detail=refusal.detail, rule=refusal.rule, remedy=remedy)
    if isinstance(refusal, Conflict):
        return replace(problem, detail=refusal.detail)
    if isinstance(refusal, NotFound):
        return replace(problem, detail=_not_found(refusal, remedy))
    error = _field_error(refusal, remedy)
    return replace(problem, detail=f"{error.field}: {error.message}", errors=[error])


def problem_for(refusal: Refuse) -> Problem:
    """The refusal as an exception, answered by the problem handler (which adds `instance`)."""
    body = problem_body(refusal)
    extensions: dict[str, object] = {}
    if body.errors is not None:
        extensions["errors"] = msgspec.to_builtins(body.errors)
    if body.rule is not None:
        extensions |= {"rule": body.rule, "remedy": body.remedy}
    slug = PROBLEM_KINDS[kind_of(refusal)].slug
    return Problem(body.status, slug, body.title, body.detail, **extensions)


def _field_error(
    refusal: InvalidField | UndefinedStandard | MethodNotAllowed, remedy: str | None
) -> FieldError:
    if isinstance(refusal, InvalidField):
        return FieldError(field=refusal.field, message=refusal.message)
    if isinstance(refusal, UndefinedStandard):
        return FieldError(
            field="standard_id", message=f"unknown standard {refusal.standard_id!r}: {remedy}"
        )
    allowed = ", ".join(refusal.allowed)
    return FieldError(
        field="method",
        message=f"method {refusal.method!r} is not allowed for this tenant "
        f"(allowed: {allowed}); {remedy}",
    )


def _not_found(refusal: NotFound, remedy: str | None) -> str:
    if refusal.missing == "attempt":
        return f"no attempt {refusal.id!r} in this tenant"
    return f"unknown standard {refusal.id!r}: {remedy}"
