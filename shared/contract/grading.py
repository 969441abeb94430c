"""The grading policy vocabulary: scales, letters, calculation methods and their parameters.

Shared because standards carry a policy in their events: the attempts service validates and
records it, the mastery service calculates with it. Pure data and validation, no calculation.
"""

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


class CalculationPolicy(msgspec.Struct, frozen=True, kw_only=True):
    method: Method = "latest"
    parameter: float | None = None
    scale: ProficiencyScale = DEFAULT_SCALE
    # No converted score counts below this percent of the scale maximum (None: no floor).
    floor_percent: float | None = None
    letters: tuple[LetterGrade, ...] = DEFAULT_LETTERS


def _number(value: float) -> str:
    return f"{value:g}"


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
