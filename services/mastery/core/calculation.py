"""From a student's evidence on one standard to a proficiency. Pure: no I/O, no clock.

Scores are taken in the order of `assessed_at`, ties broken by recorded order, never arrival order.
Points-based scores convert proportionally to the scale maximum (3 of 4 points on the 1-4 scale is
3; 8 of 10 is 3.2). Only `scored` evidence enters a calculation; no scored evidence is "no
evidence" (None), never 0. Results round half-up to 2 decimals.
"""

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import msgspec

AttemptStatus = Literal["scored", "missing", "excused", "incomplete"]
Method = Literal["latest"]


class InvalidPolicy(ValueError):
    """A calculation policy the core refuses (never silently clamped)."""


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    attempt_id: str
    assessed_at: datetime
    recorded_seq: int
    status: AttemptStatus = "scored"
    score: float | None = None
    points_possible: float | None = None


class Level(msgspec.Struct, frozen=True, kw_only=True):
    value: float
    label: str
    min_score: float


class ProficiencyScale(msgspec.Struct, frozen=True, kw_only=True):
    levels: tuple[Level, ...]
    mastery_threshold: float
    minimum: float
    maximum: float


DEFAULT_SCALE = ProficiencyScale(
    levels=(
        Level(value=1, label="Beginning", min_score=1),
        Level(value=2, label="Developing", min_score=2),
        Level(value=3, label="Proficient", min_score=3),
        Level(value=4, label="Advanced", min_score=4),
    ),
    mastery_threshold=3,
    minimum=1,
    maximum=4,
)


class CalculationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    method: Method = "latest"
    parameter: float | None = None
    scale: ProficiencyScale = DEFAULT_SCALE


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


def round_half_up(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _number(value: float) -> str:
    return f"{value:g}"


def on_scale(item: Evidence, scale: ProficiencyScale) -> float:
    assert item.score is not None
    if item.points_possible is None:
        return item.score
    return item.score / item.points_possible * scale.maximum


def level_for(score: float, scale: ProficiencyScale) -> Level:
    reached = [level for level in scale.levels if level.min_score <= score]
    return reached[-1] if reached else scale.levels[0]


def validate_policy(policy: CalculationPolicy) -> CalculationPolicy:
    if policy.method != "latest":
        raise InvalidPolicy(f"unknown calculation method {policy.method!r}")
    if policy.parameter is not None:
        raise InvalidPolicy(f"method {policy.method!r} takes no parameter")
    return policy


def calculate(evidence: Sequence[Evidence], policy: CalculationPolicy) -> Proficiency:
    policy = validate_policy(policy)
    scored = sorted(
        (item for item in evidence if item.status == "scored" and item.score is not None),
        key=lambda item: (item.assessed_at, item.recorded_seq),
    )
    if not scored:
        return Proficiency(
            score=None, level=None, level_label=None, mastered=False, letter=None,
            method=policy.method, evidence_count=0, plain_average=None,
            steps=("No scored evidence yet.",),
        )  # fmt: skip
    scores = [on_scale(item, policy.scale) for item in scored]
    newest = scored[-1]
    score = round_half_up(scores[-1])
    level = level_for(score, policy.scale)
    mastered = score >= policy.scale.mastery_threshold
    steps = (
        f"Most recent score (assessed {newest.assessed_at.date().isoformat()}): {_number(score)}",
        f"Level {_number(level.value)} {level.label}; "
        + ("mastered" if mastered else "not yet mastered")
        + f" (mastery at {_number(policy.scale.mastery_threshold)})",
    )
    return Proficiency(
        score=score,
        level=level.value,
        level_label=level.label,
        mastered=mastered,
        letter=None,
        method=policy.method,
        evidence_count=len(scored),
        plain_average=round_half_up(sum(scores) / len(scores)),
        steps=steps,
    )
