"""A standard's grading policy as an API request names it: scale, threshold, method, parameter,
floor and letters. Strict request Structs (unknown fields refused), shared so that
`PUT /v1/standards/{id}` (attempts) and `POST /v1/standards/{id}/policy-preview` (mastery) take
the same body; and what they become: the contract's scale and letters. Pure.
"""

from typing import Annotated

import msgspec

from shared.contract.grading import (
    DEFAULT_SCALE,
    MAX_GRADE_MAGNITUDE,
    LetterGrade,
    Level,
    Method,
    ProficiencyScale,
    with_fractions,
)
from shared.contract.ids import PLAIN_TEXT_PATTERN

Bounded = Annotated[float, msgspec.Meta(ge=-MAX_GRADE_MAGNITUDE, le=MAX_GRADE_MAGNITUDE)]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class FieldRefused(ValueError):
    """A request field that is well-formed alone but not with the others."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


class LevelIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    value: Bounded
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=PLAIN_TEXT_PATTERN)]
    min_score: Bounded


class ScaleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    levels: Annotated[list[LevelIn], msgspec.Meta(min_length=1, max_length=20)]
    minimum: Bounded
    maximum: Bounded


class LetterIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A letter and where it starts, in exactly one form: a score on the standard's scale, a
    position on the scale (0 its minimum, 1 its maximum), or a share of the scale maximum."""

    letter: Annotated[str, msgspec.Meta(min_length=1, max_length=5, pattern=PLAIN_TEXT_PATTERN)]
    min_score: Bounded | None = None
    min_position: Share | None = None
    min_fraction: Share | None = None

    def __post_init__(self) -> None:
        given = [self.min_score, self.min_position, self.min_fraction]
        if sum(value is not None for value in given) != 1:
            raise ValueError("give exactly one of min_score, min_position, min_fraction")


Letters = Annotated[list[LetterIn], msgspec.Meta(min_length=1, max_length=20)]


class PolicyFieldsIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    scale: Annotated[
        ScaleIn | None, msgspec.Meta(description="Default: 1 Beginning to 4 Advanced.")
    ] = None
    mastery_threshold: Annotated[
        Bounded | None, msgspec.Meta(description="Default: the scale's (3 on the default).")
    ] = None
    method: Annotated[Method | None, msgspec.Meta(description="Null: the tenant's default.")] = None
    parameter: Bounded | None = None
    floor_percent: Annotated[float, msgspec.Meta(ge=0, le=100)] | None = None
    letters: Annotated[
        Letters | None,
        msgspec.Meta(description="Null: the tenant's, else the default level bands."),
    ] = None


def scale_of(fields: PolicyFieldsIn) -> ProficiencyScale:
    """The scale the fields name; a custom scale needs its mastery threshold."""
    if fields.scale is None:
        base = DEFAULT_SCALE
    else:
        levels = tuple(Level(**msgspec.structs.asdict(level)) for level in fields.scale.levels)
        if fields.mastery_threshold is None:
            raise FieldRefused("mastery_threshold", "required with a custom scale")
        base = ProficiencyScale(
            levels=levels,
            mastery_threshold=levels[-1].min_score,
            minimum=fields.scale.minimum,
            maximum=fields.scale.maximum,
        )
    if fields.mastery_threshold is None:
        return base
    return msgspec.structs.replace(base, mastery_threshold=fields.mastery_threshold)


def letters_of(
    letters: list[LetterIn] | None, scale: ProficiencyScale | None
) -> tuple[LetterGrade, ...] | None:
    """The letters as the contract carries them; for a standard (its `scale` known), with the
    share of the maximum filled in for readers that know only that form."""
    if not letters:
        return None
    grades = tuple(LetterGrade(**msgspec.structs.asdict(letter)) for letter in letters)
    return grades if scale is None else with_fractions(grades, scale)
