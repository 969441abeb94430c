"""Why a write is refused, in the domain's terms. Pure.

A refusal says what is wrong and, for a grading rule, which rule; it names no status code, problem
type or endpoint. The HTTP adapter maps each kind to those, and to the remedy a client can act on
(`adapters/problems.py`).
"""

from typing import Literal

import msgspec

# The grading rules a write can break: the standard's reassessment policy, the tenant's allow-list.
Rule = Literal["max_reassessments", "corrective_work_required", "allowed_methods"]
ConflictReason = Literal["attempt_id_reused", "attempt_voided"]
Missing = Literal["attempt", "standard"]


class InvalidField(msgspec.Struct, frozen=True, kw_only=True):
    """A value in the request that the standard or the policy cannot accept."""

    field: str
    message: str


class UndefinedStandard(msgspec.Struct, frozen=True, kw_only=True):
    """Evidence names a standard the tenant never defined."""

    standard_id: str


class MethodNotAllowed(msgspec.Struct, frozen=True, kw_only=True):
    """A standard asks for a calculation method outside the tenant's allow-list."""

    method: str
    allowed: tuple[str, ...]


class RuleRefused(msgspec.Struct, frozen=True, kw_only=True):
    """A valid request that a grading rule does not allow now."""

    rule: Rule
    detail: str
    # The student-standard the rule applies to, for a reassessment rule.
    student_id: str | None = None
    standard_id: str | None = None


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """The request contradicts what is already recorded."""

    reason: ConflictReason
    detail: str


class NotFound(msgspec.Struct, frozen=True, kw_only=True):
    """The attempt or standard the request is about is not recorded in this tenant."""

    missing: Missing
    id: str
