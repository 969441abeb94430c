"""A class's mastery per standard: how many students stand at each level, the share mastered,
and each student's level. Pure.

Each student's standing is calculated from their evidence under the standard's policy in force,
so the answer as of now is the read model's; with a term, only the evidence assessed within the
term's dates counts (the standing the term's report card shows). A student of the class with no
evidence in range is `not_assessed`, never a zero.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

import msgspec

from services.mastery.core.calculation import CalculationPolicy, Evidence, calculate
from services.mastery.core.steps import round_half_up


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """One student's evidence on one standard, with the policy it is calculated under."""

    student_id: str
    standard_id: str
    policy: CalculationPolicy
    evidence: tuple[Evidence, ...]


class StudentLevel(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    display_name: str | None
    score: float | None
    level: float | None
    level_label: str | None
    mastered: bool


class LevelCount(msgspec.Struct, frozen=True, kw_only=True):
    level: float
    label: str
    students: int


class StandardRollup(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    assessed: int  # students of the class with evidence
    not_assessed: int
    mastered: int
    share_mastered: float | None  # of those assessed, to 2 decimals; None: nobody assessed
    distribution: list[LevelCount]  # every level of the scale, lowest first
    students: list[StudentLevel]  # every student of the class, by id


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """A term's dates, both days included."""

    start: date
    end: date

    def holds(self, at: datetime) -> bool:
        return self.start <= at.date() <= self.end


def within(standing: Standing, span: Span | None) -> Standing:
    """The standing with only the evidence assessed in the span (all of it without one)."""
    if span is None:
        return standing
    kept = tuple(e for e in standing.evidence if span.holds(e.assessed_at))
    return msgspec.structs.replace(standing, evidence=kept)


def class_rollup(
    students: Mapping[str, str | None],
    standings: Iterable[Standing],
) -> list[StandardRollup]:
    """`students`: the class's students by id, with their display names."""
    by_standard: dict[str, list[Standing]] = {}
    for standing in standings:
        if standing.student_id in students:
            by_standard.setdefault(standing.standard_id, []).append(standing)
    return [_rollup(standard, by_standard[standard], students) for standard in sorted(by_standard)]


def _rollup(
    standard_id: str,
    standings: Sequence[Standing],
    students: Mapping[str, str | None],
) -> StandardRollup:
    levels: dict[str, StudentLevel] = {}
    for standing in standings:
        proficiency = calculate(standing.evidence, standing.policy)
        levels[standing.student_id] = StudentLevel(
            student_id=standing.student_id,
            display_name=students[standing.student_id],
            score=proficiency.score,
            level=proficiency.level,
            level_label=proficiency.level_label,
            mastered=proficiency.mastered,
        )
    everyone = [
        levels.get(student) or _unassessed(student, name) for student, name in students.items()
    ]
    everyone.sort(key=lambda s: s.student_id)
    assessed = [s for s in everyone if s.level is not None]
    mastered = sum(s.mastered for s in assessed)
    scale = standings[0].policy.scale  # the newest policy is every student's (one per standard)
    return StandardRollup(
        standard_id=standard_id,
        assessed=len(assessed),
        not_assessed=len(everyone) - len(assessed),
        mastered=mastered,
        share_mastered=round_half_up(mastered / len(assessed)) if assessed else None,
        distribution=[
            LevelCount(
                level=level.value,
                label=level.label,
                students=sum(s.level == level.value for s in assessed),
            )
            for level in scale.levels
        ],
        students=everyone,
    )


def _unassessed(student_id: str, name: str | None) -> StudentLevel:
    return StudentLevel(
        student_id=student_id, display_name=name, score=None, level=None, level_label=None,
        mastered=False,
    )  # fmt: skip
