"""From a student's evidence on one standard to a proficiency. Pure: no I/O, no clock.

Scores are taken in the order of `assessed_at`, ties broken by recorded order, never arrival order.
Only `scored` evidence enters a calculation; missing and incomplete work shows as markers, excused
work is neither counted nor marked; no scored evidence is "no evidence" (None), never 0. Results
round half-up to 2 decimals. `power_law` with one score returns it, with two it is the exact curve
through them (so the latest score), and from three on it is the least-squares fit; a score of 0
shifts all scores by 1 for the fit (ln 0 is undefined).
"""

import math
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import msgspec

from services.mastery.core.scales import (
    DEFAULT_LETTERS,
    DEFAULT_SCALE,
    LetterGrade,
    Level,
    ProficiencyScale,
    letter_for,
    level_for,
    on_scale,
    percentage_scale,
    points_scale,
)

AttemptStatus = Literal["scored", "missing", "excused", "incomplete"]
Method = Literal[
    "latest",
    "highest",
    "average",
    "decaying_average",
    "weighted_average",
    "n_mastery",
    "power_law",
    "mode",
]

# method -> (lowest, highest, default) of its parameter; methods absent here take none.
PARAMETER_RANGES: dict[str, tuple[float, float, float]] = {
    "decaying_average": (50, 99, 65),
    "weighted_average": (1, 99, 65),
    "n_mastery": (1, 10, 5),
}


class InvalidPolicy(ValueError):
    """A calculation policy the core refuses (never silently clamped)."""


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    assessed_at: datetime
    recorded_seq: int
    status: AttemptStatus = "scored"
    score: float | None = None
    points_possible: float | None = None


class CalculationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    method: Method = "latest"
    parameter: float | None = None
    scale: ProficiencyScale = DEFAULT_SCALE
    # No converted score counts below this percent of the scale maximum (None: no floor).
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] = DEFAULT_LETTERS


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


def _latest(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    return scores[-1], [f"Most recent score: {_number(scores[-1])}"]


def _highest(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    best = max(scores)
    return best, [f"Highest of {_list(scores)}: {_number(best)}"]


def _average(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    mean = math.fsum(scores) / len(scores)
    return mean, [f"({' + '.join(map(_number, scores))}) / {len(scores)} = {_shown(mean)}"]


def _decaying_average(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
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
    return value, steps


def _weighted_average(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    if len(scores) == 1:
        return scores[0], [f"Only one score: {_number(scores[0])}"]
    weight = _weight(policy)
    earlier = math.fsum(scores[:-1]) / (len(scores) - 1)
    value = scores[-1] * weight + earlier * (1 - weight)
    return value, [
        f"Mean of the earlier scores {_list(scores[:-1])}: {_shown(earlier)}",
        f"{_number(weight)}×{_number(scores[-1])} + {_number(1 - weight)}×{_shown(earlier)}"
        f" = {_shown(value)}",
    ]


def _n_mastery(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    needed = int(policy.parameter or 0)
    threshold = policy.scale.mastery_threshold
    reaching = [score for score in scores if score >= threshold]
    if len(reaching) < needed:
        return None, [
            f"{len(reaching)} of {needed} required scores at or above {_number(threshold)} "
            "so far: no result yet"
        ]
    mean = math.fsum(reaching) / len(reaching)
    return mean, [
        f"{len(reaching)} scores at or above {_number(threshold)} (needed {needed})",
        f"Mean of {_list(reaching)} = {_shown(mean)}",
    ]


def _power_law(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    if len(scores) == 1:
        return scores[0], [f"Only one score: {_number(scores[0])}"]
    # ln(0) is undefined: with a zero present, every score is shifted up by 1 for the fit and the
    # prediction shifted back, which keeps the trend's shape and the order of scores.
    shift = 1.0 if min(scores) <= 0 else 0.0
    xs = [math.log(k) for k in range(1, len(scores) + 1)]
    ys = [math.log(score + shift) for score in scores]
    x_mean, y_mean = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - x_mean) ** 2 for x in xs)
    b = sum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / spread
    a = math.exp(y_mean - b * x_mean)
    predicted = a * len(scores) ** b - shift
    value = min(max(predicted, policy.scale.minimum), policy.scale.maximum)
    steps = [
        f"Least-squares fit of score = a·k^b over attempts k = 1..{len(scores)}: "
        f"a = {_shown(a)}, b = {_shown(b)}"
        + (" (scores shifted by 1: a score is 0)" if shift else ""),
        f"Trend value at k = {len(scores)}: {_shown(predicted)}",
    ]
    if value != predicted:
        steps.append(f"Clamped to the scale: {_shown(value)}")
    return value, steps


def _mode(scores: list[float], policy: CalculationPolicy) -> tuple[float | None, Steps]:
    counts = Counter(scores)
    top = max(counts.values())
    # Ties go to the most recent: scan from the newest score backwards.
    value = next(score for score in reversed(scores) if counts[score] == top)
    tied = sorted(score for score, count in counts.items() if count == top)
    steps = [f"Most frequent score: {_number(value)} ({top} times)"]
    if len(tied) > 1:
        steps.append(f"Tie between {_list(tied)}: the most recent wins")
    return value, steps


def _weight(policy: CalculationPolicy) -> float:
    return (policy.parameter or 0) / 100


def _shown(value: float) -> str:
    return _number(round_half_up(value))


def _list(scores: list[float]) -> str:
    return ", ".join(map(_number, scores))


METHODS: dict[str, Callable[[list[float], CalculationPolicy], tuple[float | None, Steps]]] = {
    "latest": _latest,
    "highest": _highest,
    "average": _average,
    "decaying_average": _decaying_average,
    "weighted_average": _weighted_average,
    "n_mastery": _n_mastery,
    "power_law": _power_law,
    "mode": _mode,
}


def validate_policy(policy: CalculationPolicy) -> CalculationPolicy:
    """Fill the method's default parameter; refuse unknown methods and out-of-range parameters."""
    if policy.method not in METHODS:
        raise InvalidPolicy(f"unknown calculation method {policy.method!r}")
    bounds = PARAMETER_RANGES.get(policy.method)
    if bounds is None:
        if policy.parameter is not None:
            raise InvalidPolicy(f"method {policy.method!r} takes no parameter")
        return policy
    low, high, default = bounds
    if policy.parameter is None:
        return msgspec.structs.replace(policy, parameter=default)
    if not low <= policy.parameter <= high:
        raise InvalidPolicy(
            f"parameter of {policy.method!r} must be between {_number(low)} and "
            f"{_number(high)}, got {_number(policy.parameter)}"
        )
    return policy


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
    raw, method_steps = METHODS[policy.method](scores, policy)
    steps += method_steps
    plain_average = round_half_up(math.fsum(scores) / len(scores))
    steps.append(f"Plain average, for comparison: {_number(plain_average)}")
    if raw is None:
        return _without_result(policy, len(scored), plain_average, steps, markers)
    score = round_half_up(raw)
    level = level_for(score, policy.scale)
    mastered = score >= policy.scale.mastery_threshold
    steps.append(
        f"Level {_number(level.value)} {level.label}; "
        + ("mastered" if mastered else "not yet mastered")
        + f" (mastery at {_number(policy.scale.mastery_threshold)})"
    )
    return Proficiency(
        score=score,
        level=level.value,
        level_label=level.label,
        mastered=mastered,
        letter=letter_for(score, policy.scale, policy.letters),
        method=policy.method,
        evidence_count=len(scored),
        plain_average=plain_average,
        steps=tuple(steps),
        markers=markers,
    )


def _converted(scored: list[Evidence], policy: CalculationPolicy) -> tuple[list[float], Steps]:
    scale, steps = policy.scale, []
    scores = [on_scale(item.score or 0.0, item.points_possible, scale) for item in scored]
    if any(item.points_possible is not None for item in scored):
        steps.append(f"Scores on the scale (points converted to 0-{_number(scale.maximum)}): "
                     f"{_list([round_half_up(score) for score in scores])}")  # fmt: skip
    if policy.floor_percent is not None:
        floor = policy.floor_percent / 100 * scale.maximum
        if any(score < floor for score in scores):
            steps.append(f"Scores below the floor of {_number(floor)} count as {_number(floor)}")
        scores = [max(score, floor) for score in scores]
    return scores, steps


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
    "CalculationPolicy",
    "Evidence",
    "InvalidPolicy",
    "LetterGrade",
    "Level",
    "Marker",
    "Proficiency",
    "ProficiencyScale",
    "calculate",
    "percentage_scale",
    "points_scale",
    "round_half_up",
    "validate_policy",
]
