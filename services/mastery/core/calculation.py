"""From a student's evidence on one standard to a proficiency. Pure: no I/O, no clock.

Scores are taken in the order of `assessed_at`, ties broken by recorded order, never arrival order.
Only `scored` evidence enters a calculation; missing and incomplete work shows as markers, excused
work is neither counted nor marked; no scored evidence is "no evidence" (None), never 0. Results
round half-up to 2 decimals. `power_law` with one score returns it, with two it is the exact curve
through them (so the latest score), and from three on it is the least-squares fit; a score of 0
shifts all scores by 1 for the fit (ln 0 is undefined).
"""

import math
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import msgspec

from services.mastery.core.scales import (
    letter_for,
    level_for,
    on_scale,
    percentage_scale,
    points_scale,
)
from services.mastery.core.tally import (
    Tally,
    add_score,
    earlier_mean,
    mode_of,
    power_fit,
    raw_result,
)
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
    evidence_count: int
    plain_average: float | None
    steps: tuple[str, ...]
    markers: tuple[Marker, ...] = ()


def round_half_up(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _number(value: float) -> str:
    return f"{value:g}"


Steps = list[str]
Explainer = Callable[[list[float], Tally, CalculationPolicy], Steps]


def _explain_latest(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    return [f"Most recent score: {_number(tally.latest)}"]


def _explain_highest(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    return [f"Highest of {_list(scores)}: {_number(tally.highest)}"]


def _explain_average(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    mean = math.fsum(tally.total) / tally.count
    return [f"({' + '.join(map(_number, scores))}) / {tally.count} = {_shown(mean)}"]


def _explain_decaying_average(
    scores: list[float], tally: Tally, policy: CalculationPolicy
) -> Steps:
    weight = _weight(policy)
    value = scores[0]
    steps = [f"Start with the first score: {_number(value)}"]
    for score in scores[1:]:
        next_value = (1 - weight) * value + weight * score
        steps.append(
            f"{_number(1 - weight)}×{_shown(value)} + {_number(weight)}×{_number(score)}"
            f" = {_shown(next_value)}"
        )
        value = next_value
    return steps


def _explain_weighted_average(
    scores: list[float], tally: Tally, policy: CalculationPolicy
) -> Steps:
    if tally.count == 1:
        return [f"Only one score: {_number(tally.latest)}"]
    weight = _weight(policy)
    earlier = earlier_mean(tally)
    value = tally.latest * weight + earlier * (1 - weight)
    return [
        f"Mean of the earlier scores {_list(scores[:-1])}: {_shown(earlier)}",
        f"{_number(weight)}×{_number(tally.latest)} + {_number(1 - weight)}×{_shown(earlier)}"
        f" = {_shown(value)}",
    ]


def _explain_n_mastery(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    needed = int(policy.parameter or 0)
    threshold = policy.scale.mastery_threshold
    if tally.reaching_count < needed:
        return [
            f"{tally.reaching_count} of {needed} required scores at or above {_number(threshold)} "
            "so far: no result yet"
        ]
    reaching = [score for score in scores if score >= threshold]
    mean = math.fsum(tally.reaching_total) / tally.reaching_count
    return [
        f"{tally.reaching_count} scores at or above {_number(threshold)} (needed {needed})",
        f"Mean of {_list(reaching)} = {_shown(mean)}",
    ]


def _explain_power_law(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    if tally.count == 1:
        return [f"Only one score: {_number(tally.latest)}"]
    fit = power_fit(tally)
    value = min(max(fit.predicted, policy.scale.minimum), policy.scale.maximum)
    steps = [
        f"Least-squares fit of score = a·k^b over attempts k = 1..{tally.count}: "
        f"a = {_shown(fit.a)}, b = {_shown(fit.b)}"
        + (" (scores shifted by 1: a score is 0)" if fit.shifted else ""),
        f"Trend value at k = {tally.count}: {_shown(fit.predicted)}",
    ]
    if value != fit.predicted:
        steps.append(f"Clamped to the scale: {_shown(value)}")
    return steps


def _explain_mode(scores: list[float], tally: Tally, policy: CalculationPolicy) -> Steps:
    winner = mode_of(tally)
    tied = sorted(entry.score for entry in tally.counts if entry.count == winner.count)
    steps = [f"Most frequent score: {_number(winner.score)} ({winner.count} times)"]
    if len(tied) > 1:
        steps.append(f"Tie between {_list(tied)}: the most recent wins")
    return steps


def _weight(policy: CalculationPolicy) -> float:
    return (policy.parameter or 0) / 100


def _shown(value: float) -> str:
    return _number(round_half_up(value))


def _list(scores: list[float]) -> str:
    return ", ".join(map(_number, scores))


EXPLAINERS: dict[str, Explainer] = {
    "latest": _explain_latest,
    "highest": _explain_highest,
    "average": _explain_average,
    "decaying_average": _explain_decaying_average,
    "weighted_average": _explain_weighted_average,
    "n_mastery": _explain_n_mastery,
    "power_law": _explain_power_law,
    "mode": _explain_mode,
}


def calculate(evidence: Sequence[Evidence], policy: CalculationPolicy) -> Proficiency:
    """The proficiency a teacher can defend: a function of the current evidence set alone.

    Voided attempts are simply absent from `evidence`; a rescored attempt carries its new score.
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
    steps += EXPLAINERS[policy.method](scores, tally, policy)
    plain_average = round_half_up(math.fsum(scores) / len(scores))
    steps.append(f"Plain average, for comparison: {_number(plain_average)}")
    standing = standing_of(raw, policy)
    if standing.score is None:
        return _without_result(policy, len(scored), plain_average, steps, markers)
    steps.append(
        f"Level {_number(standing.level or 0)} {standing.level_label}; "
        + ("mastered" if standing.mastered else "not yet mastered")
        + f" (mastery at {_number(policy.scale.mastery_threshold)})"
    )
    return Proficiency(
        score=standing.score,
        level=standing.level,
        level_label=standing.level_label,
        mastered=standing.mastered,
        letter=letter_for(standing.score, policy.scale, policy.letters),
        method=policy.method,
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
    tally = Tally()
    for score in scores:
        tally = add_to_tally(tally, score, policy)
    return tally


def add_to_tally(tally: Tally, score: float, policy: CalculationPolicy) -> Tally:
    return add_score(
        tally,
        score,
        method=policy.method,
        weight=_weight(policy),
        threshold=policy.scale.mastery_threshold,
    )


def result_of(tally: Tally, policy: CalculationPolicy) -> float | None:
    return raw_result(
        tally, method=policy.method, parameter=policy.parameter or 0, scale=policy.scale
    )


def _converted(scored: list[Evidence], policy: CalculationPolicy) -> tuple[list[float], Steps]:
    scale, steps = policy.scale, []
    unfloored = [on_scale(item.score or 0.0, item.points_possible, scale) for item in scored]
    if any(item.points_possible is not None for item in scored):
        steps.append(f"Scores on the scale (points converted to 0-{_number(scale.maximum)}): "
                     f"{_list([round_half_up(score) for score in unfloored])}")  # fmt: skip
    if policy.floor_percent is not None:
        floor = policy.floor_percent / 100 * scale.maximum
        if any(score < floor for score in unfloored):
            steps.append(f"Scores below the floor of {_number(floor)} count as {_number(floor)}")
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
        method=policy.method, evidence_count=count, plain_average=plain_average,
        steps=tuple(steps), markers=markers,
    )  # fmt: skip


__all__ = [
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
