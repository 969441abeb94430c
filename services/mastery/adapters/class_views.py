"""The class reports as the API answers them: views of the core's values, so a change inside the
core does not change the REST API unnoticed."""

import msgspec


class StudentLevelOut(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    display_name: str | None  # from the roster; None: not in it
    score: float | None
    level: float | None  # None: no evidence (in the term)
    level_label: str | None
    mastered: bool


class LevelCountOut(msgspec.Struct, frozen=True, kw_only=True):
    level: float
    label: str
    students: int


class StandardRollupOut(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    assessed: int
    not_assessed: int
    mastered: int
    share_mastered: float | None  # of the students assessed; None: nobody was
    distribution: list[LevelCountOut]  # every level of the standard's scale, lowest first
    students: list[StudentLevelOut]


class StudentGrowthOut(msgspec.Struct, frozen=True, kw_only=True):
    student_id: str
    attempts: int
    reassessments: int
    first_level: float | None
    latest_level: float | None
    slope: float | None  # levels per attempt; None with fewer than two attempts
    attempts_to_mastery: int | None  # None: not mastered yet
    days_to_mastery: float | None


class StandardAnalyticsOut(msgspec.Struct, frozen=True, kw_only=True):
    standard_id: str
    students_assessed: int
    reassessments: int
    reassessed_students: int
    reassessments_per_student: float | None
    students_mastered: int
    median_attempts_to_mastery: float | None
    mean_attempts_to_mastery: float | None
    median_days_to_mastery: float | None
    students: list[StudentGrowthOut]


def rollup_views(values: list[object]) -> list[StandardRollupOut]:
    return msgspec.convert(values, list[StandardRollupOut], from_attributes=True)


def analytics_views(values: list[object]) -> list[StandardAnalyticsOut]:
    return msgspec.convert(values, list[StandardAnalyticsOut], from_attributes=True)
