"""What a policy change would do to a standard's students, before anyone makes it. Pure.

Each student's evidence is calculated under the policy in force and under the proposed one, with
the same `calculate` the projector's numbers agree with; nothing is stored or emitted.
"""

from collections.abc import Mapping, Sequence
from typing import Literal

import msgspec

from services.mastery.core.calculation import CalculationPolicy, Evidence, calculate
from shared.contract.events.standards import StandardDefined, TenantPolicySet, effective_policy
from shared.contract.grading import (
    METHODS,
    InvalidPolicy,
    LetterGrade,
    Method,
    ProficiencyScale,
    validate_policy,
    validate_scale,
)

Effect = Literal["gains", "loses", "keeps", "not_mastered"]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """One student's standing under one policy (score None: no evidence, or no result yet)."""

    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None


class StudentPreview(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    current: Outcome
    proposed: Outcome
    effect: Effect  # on mastery
    level_changes: bool


class PreviewCounts(msgspec.Struct, frozen=True, kw_only=True):
    students: int
    gain: int  # would gain mastery
    lose: int
    keep: int
    not_mastered: int  # neither now nor under the proposal
    level_changes: int


class Preview(msgspec.Struct, frozen=True, kw_only=True):
    students: tuple[StudentPreview, ...]
    counts: PreviewCounts


class Proposal(msgspec.Struct, frozen=True, kw_only=True):
    """A standard's policy fields as `PUT /v1/standards/{id}` would set them: a field left out
    takes its default there (method: the tenant's; letters: the tenant's, else level bands)."""

    scale: ProficiencyScale
    method: Method | None = None
    parameter: float | None = None
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] | None = None


class ProposalRefused(ValueError):
    """A proposal the standard could not be given: the field and why, as the PUT would refuse."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def proposed_policy(
    standard: StandardDefined, tenant_policy: TenantPolicySet | None, proposal: Proposal
) -> CalculationPolicy:
    """The policy the standard would calculate with; the same checks as defining it."""
    try:
        validate_scale(proposal.scale)
    except InvalidPolicy as error:
        raise ProposalRefused("scale", str(error)) from error
    allowed = tenant_policy.allowed_methods if tenant_policy else METHODS
    if proposal.method is not None and proposal.method not in allowed:
        raise ProposalRefused("method", f"{proposal.method!r} is not among the tenant's methods")
    proposed = msgspec.structs.replace(standard, **msgspec.structs.asdict(proposal))
    try:
        return validate_policy(effective_policy(proposed, tenant_policy))
    except InvalidPolicy as error:
        raise ProposalRefused("parameter", str(error)) from error


def outcome_under(evidence: Sequence[Evidence], policy: CalculationPolicy) -> Outcome:
    result = calculate(evidence, policy)
    return Outcome(
        score=result.score,
        level=result.level,
        level_label=result.level_label,
        mastered=result.mastered,
        letter=result.letter,
    )


def effect_of(current: Outcome, proposed: Outcome) -> Effect:
    if current.mastered == proposed.mastered:
        return "keeps" if current.mastered else "not_mastered"
    return "gains" if proposed.mastered else "loses"


def preview(
    evidence: Mapping[str, Sequence[Evidence]],
    current: CalculationPolicy,
    proposed: CalculationPolicy,
) -> Preview:
    """Every student (by id, with their live evidence) under both policies, in student order."""
    students = []
    for student_id in sorted(evidence):
        now, then = (
            outcome_under(evidence[student_id], current),
            outcome_under(evidence[student_id], proposed),
        )
        students.append(
            StudentPreview(
                student_id=student_id,
                current=now,
                proposed=then,
                effect=effect_of(now, then),
                level_changes=now.level != then.level,
            )
        )
    return Preview(students=tuple(students), counts=counts_of(students))


def counts_of(students: Sequence[StudentPreview]) -> PreviewCounts:
    effects = [student.effect for student in students]
    return PreviewCounts(
        students=len(students),
        gain=effects.count("gains"),
        lose=effects.count("loses"),
        keep=effects.count("keeps"),
        not_mastered=effects.count("not_mastered"),
        level_changes=sum(student.level_changes for student in students),
    )
