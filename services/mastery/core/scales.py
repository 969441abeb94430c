"""Proficiency scales, score conversion and letter grades. Pure.

A points-based score converts proportionally to the scale maximum: 3 of 4 points on the 1-4 scale
is 3, 8 of 10 is 3.2, and 8 of 10 on a percentage scale is 80. It never falls below the scale's
minimum: 0 of 4 points on the 1-4 scale is 1, the lowest level, not 0, which the scale does not
have (a score given on the scale below its minimum is refused where it is recorded).
"""

from shared.contract.grading import (
    DEFAULT_LETTERS,
    DEFAULT_SCALE,
    LetterGrade,
    Level,
    ProficiencyScale,
    letter_threshold,
)

__all__ = [
    "DEFAULT_LETTERS",
    "DEFAULT_SCALE",
    "LetterGrade",
    "Level",
    "ProficiencyScale",
    "letter_for",
    "level_for",
    "on_scale",
    "percentage_scale",
    "points_scale",
]


def percentage_scale(threshold: float = 80) -> ProficiencyScale:
    """0-100, mastered at `threshold`; levels at the usual report-card bands."""
    return ProficiencyScale(
        levels=(
            Level(value=1, label="Beginning", min_score=0),
            Level(value=2, label="Developing", min_score=threshold / 2),
            Level(value=3, label="Proficient", min_score=threshold),
            Level(value=4, label="Advanced", min_score=(threshold + 100) / 2),
        ),
        mastery_threshold=threshold,
        minimum=0,
        maximum=100,
    )


def points_scale(maximum: float, threshold: float | None = None) -> ProficiencyScale:
    """Plain points 0..maximum, mastered at `threshold` (default 80% of the maximum)."""
    mastery = 0.8 * maximum if threshold is None else threshold
    return ProficiencyScale(
        levels=(
            Level(value=1, label="Not yet mastered", min_score=0),
            Level(value=2, label="Mastered", min_score=mastery),
        ),
        mastery_threshold=mastery,
        minimum=0,
        maximum=maximum,
    )


def letter_for(score: float, scale: ProficiencyScale, letters: tuple[LetterGrade, ...]) -> str:
    """The letter of the highest threshold the score reaches; the lowest letter otherwise."""
    ranked = sorted(letters, key=lambda grade: letter_threshold(grade, scale), reverse=True)
    return next((grade.letter for grade in ranked if earns(score, grade, scale)), ranked[-1].letter)


def earns(score: float, grade: LetterGrade, scale: ProficiencyScale) -> bool:
    if grade.min_score is None and grade.min_position is None:
        # Compared as letters in this form always were, so a stored letter never changes.
        fraction = score / scale.maximum if scale.maximum else 0.0
        return fraction >= (grade.min_fraction or 0.0)
    return score >= letter_threshold(grade, scale)


def proportional(score: float, points_possible: float, scale: ProficiencyScale) -> float:
    return score / points_possible * scale.maximum


def on_scale(score: float, points_possible: float | None, scale: ProficiencyScale) -> float:
    if points_possible is None:
        return score
    return max(proportional(score, points_possible, scale), scale.minimum)


def level_for(score: float, scale: ProficiencyScale) -> Level:
    reached = [level for level in scale.levels if level.min_score <= score]
    return reached[-1] if reached else scale.levels[0]
