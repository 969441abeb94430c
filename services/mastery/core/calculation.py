"""From a student's evidence on one standard to a proficiency. Pure: no I/O, no clock.

Scores are taken in the order of `assessed_at`, ties broken by recorded order, never arrival order.
Only `scored` evidence enters a calculation; missing and incomplete work shows as markers, excused
work is neither counted nor marked; no scored evidence is "no evidence" (None), never 0. Results
round half-up to 2 decimals. What each method folds, returns and explains is its object's
(`methods.py`); here is what every method shares.
"""

import math
from collections.abc import Sequence
from datetime import datetime

import msgspec

from services.mastery.core.methods import CALCULATION_METHODS, method_of
from services.mastery.core.scales import (
    letter_for,
    level_for,
    on_scale,
    percentage_scale,
    points_scale,
)
from services.mastery.core.steps import Steps, number, round_half_up
from services.mastery.core.tally import Tally
from shared.contract.grading import (
    DEFAULT_LETTERS,
    DEFAULT_SCALE,
    METHODS,
    PARAMETER_RANGES,
    AttemptStatus,
    CalculationPolicy,
    InvalidPolicy,
    LetterGrade,
    Level,
    Method,
    ProficiencyScale,
    validate_policy,
)


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    assessed_at: datetime
    recorded_seq: int
    status: AttemptStatus = "scored"
    score: float | None = None
    points_possible: float | None = None


# For attempts on a standard the projector has no policy for (recorded before standards existed):
# the most recent score on the 1-4 scale, mastery at 3.
FALLBACK_POLICY = CalculationPolicy(method="latest")


class Marker(msgspec.Struct, frozen=True, kw_only=True):
    """Missing or incomplete work, shown beside the result and never counted as a zero."""

    attempt_id: str
    status: AttemptStatus
    assessed_at: datetime


class Proficiency(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool
    letter: str | None
    method: str
    parameter: float | None  # the one calculated with: the method's default when none was given
    evidence_count: int
    plain_average: float | None
    steps: tuple[str, ...]
    markers: tuple[Marker, ...] = ()


def calculate(evidence: Sequence[Evidence], policy: CalculationPolicy) -> Proficiency:
    """The proficiency a teacher can defend: a function of the current evidence set alone.

    Voided attempts are absent from `evidence`; a rescored attempt carries its new score. The steps
    say how the number was reached; `explanation.explained` adds what it was reached from.
    """
    policy = validate_policy(policy)
    ordered = sorted(evidence, key=lambda item: (item.assessed_at, item.recorded_seq))
    scored = [item for item in ordered if item.status == "scored" and item.score is not None]
    markers = tuple(
        Marker(attempt_id=item.attempt_id, status=item.status, assessed_at=item.assessed_at)
        for item in ordered
        if item.status in {"missing", "incomplete"}
    )
    if not scored:
        return _without_result(policy, 0, None, ["No scored evidence yet."], markers)
    scores, steps = _converted(scored, policy)
    tally = tally_of(scores, policy)
    raw = result_of(tally, policy)
    steps += method_of(policy).explain(scores, tally, policy)
    plain_average = round_half_up(math.fsum(scores) / len(scores))
    steps.append(f"Plain average, for comparison: {number(plain_average)}")
    standing = standing_of(raw, policy)
    if standing.score is None:
        return _without_result(policy, len(scored), plain_average, steps, markers)
    steps.append(
        f"Level {number(standing.level or 0)} {standing.level_label}; "
        + ("mastered" if standing.mastered else "not yet mastered")
        + f" (mastery at {number(policy.scale.mastery_threshold)})"
    )
    return Proficiency(
        score=standing.score,
        level=standing.level,
        level_label=standing.level_label,
        mastered=standing.mastered,
        letter=letter_for(standing.score, policy.scale, policy.letters),
        method=policy.method,
        parameter=policy.parameter,
        evidence_count=len(scored),
        plain_average=plain_average,
        steps=tuple(steps),
        markers=markers,
    )


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """The result without its explanation: what the read model stores and changes compare."""

    score: float | None = None
    level: float | None = None
    level_label: str | None = None
    mastered: bool = False


NO_STANDING = Standing()


def standing_of(raw: float | None, policy: CalculationPolicy) -> Standing:
    if raw is None:
        return NO_STANDING
    score = round_half_up(raw)
    level = level_for(score, policy.scale)
    return Standing(
        score=score,
        level=level.value,
        level_label=level.label,
        mastered=score >= policy.scale.mastery_threshold,
    )


def score_on_scale(item: Evidence, policy: CalculationPolicy) -> float:
    """A scored attempt's score converted to the scale, with the floor applied."""
    score = on_scale(item.score or 0.0, item.points_possible, policy.scale)
    if policy.floor_percent is None:
        return score
    return max(score, policy.floor_percent / 100 * policy.scale.maximum)


def tally_of(scores: Sequence[float], policy: CalculationPolicy) -> Tally:
    """Fold scores (on the scale, oldest first) into a tally under a validated policy."""
    fold = method_of(policy).fold
    tally = Tally()
    for score in scores:
        tally = fold(tally, score, policy)
    return tally


def add_to_tally(tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
    """One more score, newer than every score in the tally, under a validated policy."""
    return method_of(policy).fold(tally, score, policy)


def result_of(tally: Tally, policy: CalculationPolicy) -> float | None:
    """The unrounded result (None: no evidence, or no result yet) under a validated policy."""
    if tally.count == 0:
        return None
    return method_of(policy).result(tally, policy)


def _converted(scored: list[Evidence], policy: CalculationPolicy) -> tuple[list[float], Steps]:
    """The scores on the scale; each one's conversion is named by `explanation.evidence_steps`."""
    scale, steps = policy.scale, []
    unfloored = [on_scale(item.score or 0.0, item.points_possible, scale) for item in scored]
    if policy.floor_percent is not None:
        floor = policy.floor_percent / 100 * scale.maximum
        if any(score < floor for score in unfloored):
            steps.append(f"Scores below the floor of {number(floor)} count as {number(floor)}")
    return [score_on_scale(item, policy) for item in scored], steps


def _without_result(
    policy: CalculationPolicy,
    count: int,
    plain_average: float | None,
    steps: Steps,
    markers: tuple[Marker, ...],
) -> Proficiency:
    return Proficiency(
        score=None, level=None, level_label=None, mastered=False, letter=None,
        method=policy.method, parameter=policy.parameter, evidence_count=count,
        plain_average=plain_average,
        steps=tuple(steps), markers=markers,
    )  # fmt: skip


__all__ = [
    "CALCULATION_METHODS",
    "DEFAULT_LETTERS",
    "DEFAULT_SCALE",
    "FALLBACK_POLICY",
    "METHODS",
    "PARAMETER_RANGES",
    "AttemptStatus",
    "CalculationPolicy",
    "Evidence",
    "InvalidPolicy",
    "LetterGrade",
    "Level",
    "Marker",
    "Method",
    "Proficiency",
    "ProficiencyScale",
    "calculate",
    "percentage_scale",
    "points_scale",
    "round_half_up",
    "validate_policy",
]
