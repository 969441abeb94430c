"""The grading policy vocabulary: scales, letters, calculation methods and their parameters.

Shared because standards carry a policy in their events: the attempts service validates and
records it, the mastery service calculates with it. Pure data and validation, and where each
letter starts on a scale (both services show it); no calculation.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, NamedTuple, get_args

import msgspec

AttemptStatus = Literal["scored", "missing", "excused", "incomplete"]
# A new method: its name here, its parameter range below if it takes one, and its object in the
# mastery core's registry (services/mastery/core/methods.py), which holds everything it does.
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
METHODS: tuple[Method, ...] = get_args(Method)


# The largest magnitude any API takes for a score, points value, scale bound or parameter: far
# beyond a real gradebook, and small enough that a sum of 1,000 converted scores keeps exact
# hundredths through the decimal rounding (28 digits), so no input overflows the calculation.
MAX_GRADE_MAGNITUDE = 1_000_000


class ParameterRange(NamedTuple):
    low: float
    high: float
    default: float


# Public, because both services refuse a policy out of range; methods absent here take none.
PARAMETER_RANGES: dict[Method, ParameterRange] = {
    "decaying_average": ParameterRange(low=50, high=99, default=65),
    "weighted_average": ParameterRange(low=1, high=99, default=65),
    "n_mastery": ParameterRange(low=1, high=10, default=5),
}


class InvalidPolicy(ValueError):
    """A calculation policy that is refused (never silently clamped)."""


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


class LetterGrade(msgspec.Struct, frozen=True, kw_only=True):
    """A letter and the lowest score that earns it, in one of three forms (the first set counts).

    `min_score` is a score on the standard's own scale. `min_position` is relative to the scale, 0
    at its minimum and 1 at its maximum, so one list serves every scale (a tenant's letters, the
    default). `min_fraction` is the score's share of the scale maximum: the only form before
    level bands, kept with its meaning for the events that carry it, and still written beside
    the others in a standard's letters so a consumer that knows only it reads the same letters.
    """

    letter: str
    min_fraction: float | None = None
    min_score: float | None = None
    min_position: float | None = None


def _band(letter: str, sixths: int) -> LetterGrade:
    return LetterGrade(letter=letter, min_position=sixths / 6)


# Default: level bands, as standards-based districts convert a 1-4 rubric: 3.5-4 A, 3.0-3.49 B,
# 2.5-2.99 C, 2.0-2.49 D, below F. As positions on the scale (sixths of its span) the same bands
# fit any scale: on 0-100 they start at 83.33, 66.67, 50 and 33.33. Before level bands the
# default was 90/80/70/60 % of the maximum, which made Proficient (3 of 4) a C.
DEFAULT_LETTERS: tuple[LetterGrade, ...] = (
    _band("A", 5),
    _band("B", 4),
    _band("C", 3),
    _band("D", 2),
    _band("F", 0),
)


class CalculationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    method: Method = "latest"
    parameter: float | None = None
    scale: ProficiencyScale = DEFAULT_SCALE
    # No converted score counts below this percent of the scale maximum (None: no floor).
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] = DEFAULT_LETTERS


def _number(value: float) -> str:
    return f"{value:g}"


def parameter_in_force(method: Method, parameter: float | None) -> float | None:
    """The parameter a method calculates with: the one given, else its default (None: none)."""
    bounds = PARAMETER_RANGES.get(method)
    return bounds.default if bounds is not None and parameter is None else parameter


def letter_threshold(grade: LetterGrade, scale: ProficiencyScale) -> float:
    """The lowest score on `scale` that earns the letter (a position: in hundredths, as scores)."""
    if grade.min_score is not None:
        return grade.min_score
    if grade.min_position is not None:
        exact = scale.minimum + grade.min_position * (scale.maximum - scale.minimum)
        return float(Decimal(repr(exact)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return (grade.min_fraction or 0.0) * scale.maximum


def with_fractions(
    letters: tuple[LetterGrade, ...], scale: ProficiencyScale
) -> tuple[LetterGrade, ...]:
    """The letters with `min_fraction` filled from their threshold on `scale`, for consumers that
    read only that form (it was required before level bands)."""
    return tuple(
        msgspec.structs.replace(
            grade,
            min_fraction=letter_threshold(grade, scale) / scale.maximum if scale.maximum else 0.0,
        )
        if grade.min_fraction is None
        else grade
        for grade in letters
    )


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


def validate_scale(scale: ProficiencyScale) -> ProficiencyScale:
    """Levels ascending inside [minimum, maximum]; the threshold is one level's lowest score."""
    if not scale.levels:
        raise InvalidPolicy("a scale needs at least one level")
    if scale.minimum >= scale.maximum:
        raise InvalidPolicy("scale minimum must be below its maximum")
    bounds = [level.min_score for level in scale.levels]
    if bounds != sorted(set(bounds)):
        raise InvalidPolicy("levels must be listed with strictly ascending min_score")
    if not (scale.minimum <= bounds[0] and bounds[-1] <= scale.maximum):
        raise InvalidPolicy("every level's min_score must lie within the scale")
    if not scale.minimum <= scale.mastery_threshold <= scale.maximum:
        raise InvalidPolicy("mastery_threshold must lie within the scale")
    return scale
