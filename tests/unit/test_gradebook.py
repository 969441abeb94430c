"""The OneRoster 1.2 gradebook from standings, against hand-computed records; and the field-list
checker of the tests refusing records that break the specification."""

from datetime import UTC, date, datetime
from typing import Any

import msgspec

from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.class_rollup import Span, Standing
from services.mastery.core.gradebook import GradebookClass, gradebook, stamp
from services.mastery.core.gradebook_csv import bulk_files
from shared.contract.events.standards import StandardDefined
from shared.contract.grading import DEFAULT_SCALE, AttemptStatus
from tests.support.oneroster_gradebook import CSV_COLUMNS, gradebook_errors

NOW = datetime(2026, 11, 1, tzinfo=UTC)
GUID = "9f3a1c52-1e0b-4b7e-a1f4-2c6d8e0b5a17"
KLASS = GradebookClass(class_id="7b", school_id=None, term_id=None, span=None, base="/g/7b")
MATH = StandardDefined(tenant_id="t", standard_id="math", title="Fractions", case_guid=GUID,
                       scale=DEFAULT_SCALE, defined_at=NOW)  # fmt: skip


def item(seq: int, day: int, score: float | None, status: AttemptStatus = "scored") -> Evidence:
    return Evidence(attempt_id=f"a{seq}", assessed_at=datetime(2026, 10, day, 8, tzinfo=UTC),
                    recorded_seq=seq, status=status, score=score)  # fmt: skip


def standing(student: str, *evidence: Evidence, method: str = "latest") -> Standing:
    policy = msgspec.convert({"method": method}, CalculationPolicy)
    return Standing(student_id=student, standard_id="math", policy=policy, evidence=evidence)


STANDINGS = [
    standing("ana", item(1, 1, 2), item(2, 9, 4)),  # latest 4: Advanced
    standing("ben", item(1, 2, 3), item(2, 6, 2), method="average"),  # 2.5: level 2, Developing
    standing("cy", item(1, 3, None, "incomplete")),  # no score: not submitted, incomplete
    standing("dee", item(1, 4, None, "excused")),  # exempt
]


def records(book: Any) -> dict[str, list[dict[str, Any]]]:
    as_json = msgspec.to_builtins(book)
    return {"result": as_json["results"], "lineItem": as_json["line_items"],
            "scoreScale": as_json["score_scales"], "category": as_json["categories"]}  # fmt: skip


def test_results_carry_the_score_the_level_label_and_the_case_guid() -> None:
    book = gradebook(KLASS, {"math": MATH}, STANDINGS, NOW)
    assert [(r.sourced_id, r.score_status, r.score, r.text_score, r.score_date)
            for r in book.results] == [
        ("7b:math:ana", "fully graded", 4, "Advanced", "2026-10-09"),
        ("7b:math:ben", "fully graded", 2.5, "Developing", "2026-10-06"),
        ("7b:math:cy", "not submitted", None, None, "2026-10-03"),
        ("7b:math:dee", "exempt", None, None, "2026-10-04"),
    ]  # fmt: skip
    assert (book.results[2].incomplete, book.results[2].missing) == ("true", None)
    assert book.results[1].learning_objective_set is not None
    assert book.results[1].learning_objective_set[0].learning_objective_results[0].score == 2.5
    [line] = book.line_items
    assert (line.assign_date, line.due_date) == ("2026-10-01T08:00:00.000Z",
                                                 "2026-10-09T08:00:00.000Z")  # fmt: skip
    assert gradebook_errors(records(book), {"user": {"ana", "ben", "cy", "dee"},
                                            "class": {"7b"}}) == []  # fmt: skip


def test_a_term_sets_the_due_dates_and_the_grading_period() -> None:
    span = Span(start=date(2026, 9, 1), end=date(2026, 10, 9))
    klass = msgspec.structs.replace(KLASS, term_id="fall", span=span)
    [line] = gradebook(klass, {}, STANDINGS[:1], NOW).line_items
    assert (line.assign_date, line.due_date, line.title) == (
        "2026-09-01T00:00:00.000Z", "2026-10-09T23:59:59.000Z", "math")  # fmt: skip
    assert line.grading_period is not None
    assert line.grading_period.sourced_id == "fall"
    assert line.learning_objective_set is None  # never defined: no CASE GUID


def test_the_bulk_files_have_the_specifications_columns() -> None:
    files = bulk_files(gradebook(KLASS, {"math": MATH}, STANDINGS, NOW))
    for name, columns in CSV_COLUMNS.items():
        assert files[name][0] == columns
    assert files["results.csv"][2][5:9] == ["fully graded", "2.5", "Developing", "2026-10-06"]


def test_the_checker_names_each_way_a_record_breaks_the_specification() -> None:
    book = records(gradebook(KLASS, {"math": MATH}, STANDINGS[:1], NOW))
    result = book["result"][0]
    result["scoreStatus"] = "graded"
    result["scoreDate"] = "2026-10-09T08:00:00Z"
    result["student"]["type"] = "student"
    del result["lineItem"]
    book["lineItem"][0]["dateLastModified"] = "2026-10-09"
    book["scoreScale"][0]["colour"] = "red"
    assert sorted(gradebook_errors(book, {"class": {"7b"}})) == sorted([
        "result 7b:math:ana: lineItem missing",
        "result 7b:math:ana: scoreStatus 'graded'",
        "result 7b:math:ana: scoreDate '2026-10-09T08:00:00Z' is not a date",
        "result 7b:math:ana: student is not a GUIDRef to a user: "
        + repr(result["student"]),
        "result 7b:math:ana: student resolves to nothing",
        "lineItem 7b:math: dateLastModified '2026-10-09' is not a UTC date-time",
        "scoreScale 7b:math:scale: colour unknown",
    ])  # fmt: skip


def test_a_stamp_is_utc_with_milliseconds() -> None:
    assert stamp(datetime(2026, 10, 1, 9, 0, 0, 123456, tzinfo=UTC)) == "2026-10-01T09:00:00.123Z"
