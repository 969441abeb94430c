"""Class rollups and reassessment and growth analytics against hand-computed expectations."""

from datetime import UTC, date, datetime

from services.mastery.core.analytics import class_analytics, slope, student_growth
from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.class_rollup import Span, Standing, class_rollup, within
from shared.contract.grading import AttemptStatus

LATEST = CalculationPolicy(method="latest")
AVERAGE = CalculationPolicy(method="average")


def on(day: int) -> datetime:
    return datetime(2026, 10, day, 9, 0, tzinfo=UTC)


def evidence(
    *scores: tuple[int, float | None, int], status: AttemptStatus = "scored"
) -> tuple[Evidence, ...]:
    """(day, score, recorded order) each."""
    return tuple(
        Evidence(attempt_id=f"a{seq}", assessed_at=on(day), recorded_seq=seq, status=status,
                 score=score)
        for day, score, seq in scores
    )  # fmt: skip


# Ana on math: 2, 2, 3, 4 on Oct 1, 5, 11, 20 (the Oct 11 one recorded first).
ANA_MATH = Standing(student_id="ana", standard_id="math", policy=LATEST,
                    evidence=evidence((11, 3, 1), (1, 2, 2), (5, 2, 3), (20, 4, 4)))  # fmt: skip
# Ben on math: 3 on Oct 2, and a missing marker (never a score).
BEN_MATH = Standing(
    student_id="ben", standard_id="math", policy=LATEST,
    evidence=evidence((2, 3, 1)) + evidence((3, None, 2), status="missing"),
)  # fmt: skip
# Cy on math: 1 on Oct 1, 2 on Oct 8: not mastered yet.
CY_MATH = Standing(student_id="cy", standard_id="math", policy=LATEST,
                   evidence=evidence((1, 1, 1), (8, 2, 2)))  # fmt: skip
ANA_ELA = Standing(student_id="ana", standard_id="ela", policy=LATEST, evidence=evidence((3, 3, 1)))
# Not in the class.
DEE_ELA = Standing(student_id="dee", standard_id="ela", policy=LATEST,
                   evidence=evidence((3, 1, 1), (4, 1, 2), (5, 1, 3)))  # fmt: skip
STUDENTS = {"ana": "Ana A", "ben": "Ben B", "cy": None, "eve": "Eve E"}
EVERY = [ANA_MATH, BEN_MATH, CY_MATH, ANA_ELA, DEE_ELA]


def test_a_students_growth_follows_assessed_order() -> None:
    growth = student_growth(ANA_MATH)
    assert (growth.attempts, growth.reassessments) == (4, 3)
    assert (growth.first_level, growth.latest_level) == (2, 4)
    # Levels 2, 2, 3, 4 over 1..4: covariance 3.5 / variance 5.
    assert growth.slope == 0.7
    # Mastered after the third attempt (Oct 11), ten days after the first (Oct 1).
    assert (growth.attempts_to_mastery, growth.days_to_mastery) == (3, 10.0)


def test_growth_under_the_standards_own_method() -> None:
    # The mean after each: 2, 2, 2.33 (level 2), 2.75 (level 2): never mastered.
    growth = student_growth(Standing(student_id="ana", standard_id="math", policy=AVERAGE,
                                     evidence=ANA_MATH.evidence))  # fmt: skip
    assert (growth.first_level, growth.latest_level, growth.slope) == (2, 2, 0.0)
    assert growth.attempts_to_mastery is None


def test_slope_of_too_few_points_is_none() -> None:
    assert slope([]) is None
    assert slope([3]) is None
    assert slope([1, 2]) == 1.0
    assert slope([4, 3, 1]) == -1.5


def test_class_analytics_per_standard_most_reassessed_first() -> None:
    math, ela = class_analytics(STUDENTS, EVERY)
    assert math.standard_id == "math"
    assert (math.students_assessed, math.reassessments, math.reassessed_students) == (3, 4, 2)
    assert math.reassessments_per_student == 1.33
    assert math.students_mastered == 2
    # Ana needed 3 attempts and 10 days, Ben 1 attempt and 0 days.
    assert (math.median_attempts_to_mastery, math.mean_attempts_to_mastery) == (2.0, 2.0)
    assert math.median_days_to_mastery == 5.0
    assert [s.student_id for s in math.students] == ["ana", "ben", "cy"]
    cy = math.students[2]
    assert (cy.first_level, cy.latest_level, cy.slope, cy.attempts_to_mastery) == (1, 2, 1.0, None)
    # Dee is not in the class: ela is Ana's alone.
    assert (ela.standard_id, ela.students_assessed, ela.reassessments) == ("ela", 1, 0)
    assert ela.median_days_to_mastery == 0.0


def test_class_rollup_distribution_share_and_each_student() -> None:
    ela, math = class_rollup(STUDENTS, EVERY)
    assert (ela.standard_id, ela.assessed, ela.not_assessed, ela.mastered) == ("ela", 1, 3, 1)
    assert (math.assessed, math.not_assessed, math.mastered, math.share_mastered) == (3, 1, 2, 0.67)
    assert [(c.level, c.label, c.students) for c in math.distribution] == [
        (1, "Beginning", 0), (2, "Developing", 1), (3, "Proficient", 1), (4, "Advanced", 1),
    ]  # fmt: skip
    assert [(s.student_id, s.display_name, s.level, s.mastered) for s in math.students] == [
        ("ana", "Ana A", 4, True), ("ben", "Ben B", 3, True), ("cy", None, 2, False),
        ("eve", "Eve E", None, False),
    ]  # fmt: skip


def test_a_term_counts_only_the_evidence_assessed_within_its_dates() -> None:
    span = Span(start=date(2026, 10, 1), end=date(2026, 10, 9))
    _, math = class_rollup(STUDENTS, [within(s, span) for s in EVERY])
    # Ana: 2, 2 (level 2); Ben: 3; Cy: 1, 2 (level 2).
    assert [(c.level, c.students) for c in math.distribution] == [(1, 0), (2, 2), (3, 1), (4, 0)]
    assert (math.mastered, math.share_mastered) == (1, 0.33)
    late = Span(start=date(2026, 10, 21), end=date(2026, 10, 31))
    assert class_rollup(STUDENTS, [within(s, late) for s in EVERY])[1].assessed == 0
