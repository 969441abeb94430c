"""Proficiency scales, score conversion and letter grades. Pure.

A points-based score converts proportionally to the scale maximum: 3 of 4 points on the 1-4 scale
is 3, 8 of 10 is 3.2, and 8 of 10 on a percentage scale is 80.
"""

import msgspec


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


class LetterGrade(msgspec.Struct, frozen=True, kw_only=True):
    letter: str
    min_fraction: float


# Default: by the score's fraction of the scale maximum, 90/80/70/60 like most report cards,
# so on the 1-4 scale 4 is A, 3.2+ is B, 2.8+ is C, 2.4+ is D.
DEFAULT_LETTERS: tuple[LetterGrade, ...] = (
    LetterGrade(letter="A", min_fraction=0.9),
    LetterGrade(letter="B", min_fraction=0.8),
    LetterGrade(letter="C", min_fraction=0.7),
    LetterGrade(letter="D", min_fraction=0.6),
    LetterGrade(letter="F", min_fraction=0.0),
)


def letter_for(score: float, scale: ProficiencyScale, letters: tuple[LetterGrade, ...]) -> str:
    fraction = score / scale.maximum if scale.maximum else 0.0
    for grade in sorted(letters, key=lambda item: item.min_fraction, reverse=True):
        if fraction >= grade.min_fraction:
            return grade.letter
    return letters[-1].letter


def on_scale(score: float, points_possible: float | None, scale: ProficiencyScale) -> float:
    if points_possible is None:
        return score
    return score / points_possible * scale.maximum


def level_for(score: float, scale: ProficiencyScale) -> Level:
    reached = [level for level in scale.levels if level.min_score <= score]
    return reached[-1] if reached else scale.levels[0]
