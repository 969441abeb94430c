"""Reassessment and growth per class and standard: how often students are reassessed, how many
attempts they need to reach mastery and how long it takes, and each student's growth. Pure.

A student's attempts on a standard are their scored evidence as it stands (voided attempts left
out, rescored ones with their new score), in the order of `assessed_at` (ties: recorded order),
the order calculations take them in. As the attempts service counts them, every attempt after the
first is a reassessment. The level after the k-th attempt is the standard's current policy
applied to the first k: so growth and mastery are measured the way the standing itself is.

- attempts to mastery: the k of the first attempt after which the standing is mastered;
- days to mastery: from the first attempt's `assessed_at` to that attempt's, in days;
- growth: the level after the first attempt, after the latest, and the least-squares slope of
  the level over the attempt number (levels per attempt; None with fewer than two attempts).
Medians of an even count are the mean of the middle two. Numbers round half-up to 2 decimals.
"""

import statistics
from collections.abc import Iterable, Sequence

import msgspec

from services.mastery.core.calculation import Evidence, calculate
from services.mastery.core.class_rollup import Standing
from services.mastery.core.steps import round_half_up

SECONDS_PER_DAY = 86_400


class StudentGrowth(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    attempts: int
    reassessments: int
    first_level: float | None
    latest_level: float | None
    slope: float | None  # levels per attempt
    attempts_to_mastery: int | None  # None: not mastered yet
    days_to_mastery: float | None


class StandardAnalytics(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    students_assessed: int
    reassessments: int
    reassessed_students: int
    reassessments_per_student: float | None
    students_mastered: int
    median_attempts_to_mastery: float | None
    mean_attempts_to_mastery: float | None
    median_days_to_mastery: float | None
    students: list[StudentGrowth]


def scored_in_order(evidence: Iterable[Evidence]) -> list[Evidence]:
    scored = [e for e in evidence if e.status == "scored" and e.score is not None]
    return sorted(scored, key=lambda e: (e.assessed_at, e.recorded_seq))


def student_growth(standing: Standing) -> StudentGrowth:
    attempts = scored_in_order(standing.evidence)
    after = [calculate(attempts[:k], standing.policy) for k in range(1, len(attempts) + 1)]
    levels = [p.level for p in after]
    first_mastered = next((k for k, p in enumerate(after, start=1) if p.mastered), None)
    days = None
    if first_mastered is not None:
        elapsed = attempts[first_mastered - 1].assessed_at - attempts[0].assessed_at
        days = round_half_up(elapsed.total_seconds() / SECONDS_PER_DAY)
    return StudentGrowth(
        student_id=standing.student_id,
        attempts=len(attempts),
        reassessments=max(len(attempts) - 1, 0),
        first_level=levels[0] if levels else None,
        latest_level=levels[-1] if levels else None,
        slope=slope([level for level in levels if level is not None]),
        attempts_to_mastery=first_mastered,
        days_to_mastery=days,
    )


def slope(values: Sequence[float]) -> float | None:
    """Least-squares slope of the values over 1, 2, ..., n."""
    n = len(values)
    if n < 2:
        return None
    mean_x, mean_y = (n + 1) / 2, sum(values) / n
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(values, start=1))
    variance = sum((x - mean_x) ** 2 for x in range(1, n + 1))
    return round_half_up(covariance / variance)


def class_analytics(
    students: Iterable[str], standings: Iterable[Standing]
) -> list[StandardAnalytics]:
    """Per standard, the class's students with scored evidence; most reassessed first (then by
    standard id): "which standards are most commonly reassessed"."""
    members = set(students)
    by_standard: dict[str, list[StudentGrowth]] = {}
    for standing in standings:
        if standing.student_id not in members:
            continue
        growth = student_growth(standing)
        if growth.attempts:
            by_standard.setdefault(standing.standard_id, []).append(growth)
    found = [_standard(standard, grown) for standard, grown in by_standard.items()]
    return sorted(found, key=lambda a: (-a.reassessments, a.standard_id))


def _standard(standard_id: str, grown: list[StudentGrowth]) -> StandardAnalytics:
    grown.sort(key=lambda g: g.student_id)
    reached = [g for g in grown if g.attempts_to_mastery is not None]
    attempts = [float(g.attempts_to_mastery or 0) for g in reached]
    days = [g.days_to_mastery or 0.0 for g in reached]
    reassessments = sum(g.reassessments for g in grown)
    return StandardAnalytics(
        standard_id=standard_id,
        students_assessed=len(grown),
        reassessments=reassessments,
        reassessed_students=sum(g.reassessments > 0 for g in grown),
        reassessments_per_student=round_half_up(reassessments / len(grown)),
        students_mastered=len(reached),
        median_attempts_to_mastery=_rounded(statistics.median(attempts)) if attempts else None,
        mean_attempts_to_mastery=_rounded(statistics.fmean(attempts)) if attempts else None,
        median_days_to_mastery=_rounded(statistics.median(days)) if days else None,
        students=grown,
    )


def _rounded(value: float) -> float:
    return round_half_up(float(value))
