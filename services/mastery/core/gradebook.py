"""A class's proficiencies as a OneRoster 1.2 gradebook: a `lineItem` and a `scoreScale` per
standard, one `category` they share, and a `result` per student and standard. Pure.

A result's `score` is the proficiency score, its `textScore` the level's label, its
`learningObjectiveSet` the standard's CASE GUID with the same score and label (none for a
standard without a GUID). A student with only markers has a result without a score: `not
submitted` with `missing`/`incomplete` set, or `exempt` when the work was excused. The ids are
made from the class's, the standard's and the student's, so an export repeated replaces the same
records in the SIS. Dates: a result's is its newest evidence's; a line item's assign and due
dates are the term's (with one) or its first and newest evidence's.
"""

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time

import msgspec

from services.mastery.core.calculation import calculate
from services.mastery.core.class_rollup import Span, Standing
from shared.contract.events.standards import StandardDefined

CATEGORY_ID = "mastery-standards"
CASE = "case"
ROSTERING = "/ims/oneroster/rostering/v1p2"


class Ref(msgspec.Struct, frozen=True, rename="camel"):
    """A OneRoster GUIDRef."""

    href: str
    sourced_id: str
    type: str


class ObjectiveIds(msgspec.Struct, frozen=True, rename="camel"):
    source: str
    learning_objective_ids: list[str]


class ObjectiveResult(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    learning_objective_id: str
    score: float | None = None
    text_score: str | None = None


class ObjectiveResults(msgspec.Struct, frozen=True, rename="camel"):
    source: str
    learning_objective_results: list[ObjectiveResult]


class Category(msgspec.Struct, frozen=True, rename="camel"):
    sourced_id: str
    status: str
    date_last_modified: str
    title: str


class ScaleValue(msgspec.Struct, frozen=True, rename="camel"):
    item_value_l_h_s: str = msgspec.field(name="itemValueLHS")
    item_value_r_h_s: str = msgspec.field(name="itemValueRHS")


class ScoreScale(msgspec.Struct, frozen=True, rename="camel"):
    sourced_id: str
    status: str
    date_last_modified: str
    title: str
    type: str
    class_: Ref = msgspec.field(name="class")
    score_scale_value: list[ScaleValue]


class LineItem(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    sourced_id: str
    status: str
    date_last_modified: str
    title: str
    description: str
    assign_date: str
    due_date: str
    class_: Ref = msgspec.field(name="class")
    category: Ref
    score_scale: Ref
    result_value_min: float
    result_value_max: float
    school: Ref | None = None
    grading_period: Ref | None = None
    learning_objective_set: list[ObjectiveIds] | None = None


class Result(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    sourced_id: str
    status: str
    date_last_modified: str
    line_item: Ref
    student: Ref
    class_: Ref = msgspec.field(name="class")
    score_scale: Ref
    score_status: str
    score_date: str
    score: float | None = None
    text_score: str | None = None
    learning_objective_set: list[ObjectiveResults] | None = None
    missing: str | None = None
    incomplete: str | None = None


class GradebookClass(msgspec.Struct, frozen=True, kw_only=True):
    """The class the gradebook is for, with its term (None: all evidence) and its base URL."""

    class_id: str
    school_id: str | None
    term_id: str | None
    span: Span | None
    base: str  # where the gradebook's collections are served, for the refs' hrefs


class Gradebook(msgspec.Struct, frozen=True, kw_only=True):
    categories: list[Category]
    score_scales: list[ScoreScale]
    line_items: list[LineItem]
    results: list[Result]


def stamp(at: datetime) -> str:
    """A OneRoster DateTime: UTC, milliseconds, `Z`."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _day(on: date, end: bool = False) -> str:
    return stamp(datetime.combine(on, time(23, 59, 59) if end else time(0), tzinfo=UTC))


def line_item_id(class_id: str, standard_id: str) -> str:
    return f"{class_id}:{standard_id}"


def gradebook(
    klass: GradebookClass,
    definitions: Mapping[str, StandardDefined],
    standings: Iterable[Standing],
    now: datetime,
) -> Gradebook:
    """`definitions`: each standard's, by id (a standard never defined is titled by its id)."""
    by_standard: dict[str, list[Standing]] = {}
    for standing in standings:
        by_standard.setdefault(standing.standard_id, []).append(standing)
    newest = max((e.assessed_at for s in by_standard.values() for x in s for e in x.evidence),
                 default=now)  # fmt: skip
    scales, items, results = [], [], []
    for standard_id in sorted(by_standard):
        found = sorted(by_standard[standard_id], key=lambda s: s.student_id)
        definition = definitions.get(standard_id)
        scales.append(_scale(klass, standard_id, definition, found[0], newest))
        items.append(_line_item(klass, standard_id, definition, found, newest))
        results += [r for s in found if (r := _result(klass, s, definition)) is not None]
    category = Category(sourced_id=CATEGORY_ID, status="active", date_last_modified=stamp(newest),
                        title="Standards mastery")  # fmt: skip
    return Gradebook(categories=[category], score_scales=scales, line_items=items, results=results)


def _ref(klass: GradebookClass, collection: str, kind: str, sourced_id: str) -> Ref:
    """A record of this gradebook: its href is the collection that holds it."""
    return Ref(href=f"{klass.base}/{collection}", sourced_id=sourced_id, type=kind)


def _roster_ref(collection: str, kind: str, sourced_id: str) -> Ref:
    """A record of the school's roster, where the SIS's rostering service has it."""
    return Ref(href=f"{ROSTERING}/{collection}/{sourced_id}", sourced_id=sourced_id, type=kind)


def _class_ref(klass: GradebookClass) -> Ref:
    return Ref(href=f"/v1/classes/{klass.class_id}", sourced_id=klass.class_id, type="class")


def _scale(
    klass: GradebookClass, standard_id: str, definition: StandardDefined | None,
    standing: Standing, newest: datetime,
) -> ScoreScale:  # fmt: skip
    scale = definition.scale if definition else standing.policy.scale
    title = definition.title if definition else standard_id
    return ScoreScale(
        sourced_id=line_item_id(klass.class_id, standard_id) + ":scale",
        status="active",
        date_last_modified=stamp(newest),
        title=f"{title}: levels",
        type="proficiency levels",
        class_=_class_ref(klass),
        score_scale_value=[
            ScaleValue(item_value_l_h_s=f"{level.value:g}", item_value_r_h_s=level.label)
            for level in scale.levels
        ],
    )


def _line_item(
    klass: GradebookClass, standard_id: str, definition: StandardDefined | None,
    found: list[Standing], newest: datetime,
) -> LineItem:  # fmt: skip
    sourced_id = line_item_id(klass.class_id, standard_id)
    dates = sorted(e.assessed_at for s in found for e in s.evidence) or [newest]
    guid = definition.case_guid if definition else None
    scale = found[0].policy.scale
    return LineItem(
        sourced_id=sourced_id,
        status="active",
        date_last_modified=stamp(newest),
        title=definition.title if definition else standard_id,
        description=f"Mastery of standard {standard_id}",
        assign_date=_day(klass.span.start) if klass.span else stamp(dates[0]),
        due_date=_day(klass.span.end, end=True) if klass.span else stamp(dates[-1]),
        class_=_class_ref(klass),
        category=_ref(klass, "categories", "category", CATEGORY_ID),
        score_scale=_ref(klass, "scoreScales", "scoreScale", sourced_id + ":scale"),
        result_value_min=scale.minimum,
        result_value_max=scale.maximum,
        school=_roster_ref("orgs", "org", klass.school_id) if klass.school_id else None,
        grading_period=_roster_ref("academicSessions", "academicSession", klass.term_id)
        if klass.term_id
        else None,
        learning_objective_set=[ObjectiveIds(source=CASE, learning_objective_ids=[guid])]
        if guid
        else None,
    )


def _result(
    klass: GradebookClass, standing: Standing, definition: StandardDefined | None
) -> Result | None:
    """None: no evidence at all (in the term)."""
    if not standing.evidence:
        return None
    proficiency = calculate(standing.evidence, standing.policy)
    statuses: set[str] = {e.status for e in standing.evidence}
    item = line_item_id(klass.class_id, standing.standard_id)
    guid = definition.case_guid if definition else None
    graded = proficiency.level is not None
    objectives = [ObjectiveResults(source=CASE, learning_objective_results=[ObjectiveResult(
        learning_objective_id=guid, score=proficiency.score, text_score=proficiency.level_label,
    )])] if guid and graded else None  # fmt: skip
    return Result(
        sourced_id=f"{item}:{standing.student_id}",
        status="active",
        date_last_modified=stamp(max(e.assessed_at for e in standing.evidence)),
        line_item=_ref(klass, "lineItems", "lineItem", item),
        student=_roster_ref("users", "user", standing.student_id),
        class_=_class_ref(klass),
        score_scale=_ref(klass, "scoreScales", "scoreScale", item + ":scale"),
        score_status=_score_status(graded, statuses),
        score_date=max(e.assessed_at for e in standing.evidence).astimezone(UTC).date().isoformat(),
        score=proficiency.score,
        text_score=proficiency.level_label,
        learning_objective_set=objectives,
        missing="true" if not graded and "missing" in statuses else None,
        incomplete="true" if not graded and "incomplete" in statuses else None,
    )


def _score_status(graded: bool, statuses: set[str]) -> str:
    if graded:
        return "fully graded"
    return "exempt" if statuses == {"excused"} else "not submitted"
