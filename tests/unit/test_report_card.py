"""The report card's rows against hand-computed expectations; its cells safe for spreadsheets."""

from datetime import UTC, datetime

import pytest

from services.mastery.adapters.report_card_http import attachment
from services.mastery.core.calculation import CalculationPolicy, Evidence
from services.mastery.core.class_rollup import Standing
from services.mastery.core.report_card import (
    csv_value,
    header,
    markers_text,
    report_card_rows,
    safe_text,
)
from shared.contract.grading import AttemptStatus

LATEST = CalculationPolicy(method="latest")
AVERAGE = CalculationPolicy(method="average")


def item(seq: int, day: int, score: float | None, status: AttemptStatus = "scored") -> Evidence:
    return Evidence(attempt_id=f"a{seq}", assessed_at=datetime(2026, 10, day, tzinfo=UTC),
                    recorded_seq=seq, status=status, score=score)  # fmt: skip


# Ana on math: 2 then 4 (latest: 4, Advanced, A); on ela: 3 (Proficient, B) and a missing one.
ANA_MATH = Standing(student_id="ana", standard_id="math", policy=LATEST,
                    evidence=(item(1, 1, 2), item(2, 5, 4)))  # fmt: skip
ANA_ELA = Standing(student_id="ana", standard_id="ela", policy=LATEST,
                   evidence=(item(1, 2, 3), item(2, 3, None, "missing")))  # fmt: skip
# Ben on math, averaged: 2 and 3 -> 2.5: level 2 Developing, letter C (2.5-2.99); excused and
# incomplete work is counted.
BEN_MATH = Standing(
    student_id="ben", standard_id="math", policy=AVERAGE,
    evidence=(item(1, 1, 2), item(2, 2, 3), item(3, 3, None, "excused"),
              item(4, 4, None, "incomplete"), item(5, 5, None, "missing")),
)  # fmt: skip
# Cy has only a missing marker on math: no level, never a zero.
CY_MATH = Standing(student_id="cy", standard_id="math", policy=LATEST,
                   evidence=(item(1, 1, None, "missing"),))  # fmt: skip
STUDENTS = {"cy": '=HYPERLINK("http://x")', "ana": "Ana A", "ben": None, "dee": "Dee D"}


def test_the_header_names_four_columns_per_standard_after_the_student_and_term() -> None:
    assert header(["ela", "math"]) == [
        "Student ID", "Student name", "Term",
        "ela level", "ela level label", "ela letter", "ela markers",
        "math level", "math level label", "math letter", "math markers",
    ]  # fmt: skip


def test_one_row_per_student_with_level_label_letter_and_markers() -> None:
    rows = report_card_rows(
        STUDENTS, ["ela", "math"], [ANA_MATH, ANA_ELA, BEN_MATH, CY_MATH], "Fall"
    )
    assert rows == [
        ["ana", "Ana A", "Fall", 3.0, "Proficient", "B", "missing 1", 4.0, "Advanced", "A", None],
        ["ben", None, "Fall", None, None, None, None,
         2.0, "Developing", "C", "missing 1; excused 1; incomplete 1"],
        ["cy", "'=HYPERLINK(\"http://x\")", "Fall", None, None, None, None,
         None, None, None, "missing 1"],
        ["dee", "Dee D", "Fall", None, None, None, None, None, None, None, None],
    ]  # fmt: skip


def test_without_a_term_the_term_cell_is_empty_and_other_students_standings_are_ignored() -> None:
    rows = report_card_rows({"ben": "Ben"}, ["math"], [ANA_MATH, BEN_MATH], None)
    assert rows == [["ben", "Ben", None, 2.0, "Developing", "C",
                     "missing 1; excused 1; incomplete 1"]]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ana =1", "Ana =1"),
        ("", ""),
    ],
)
def test_text_a_spreadsheet_would_evaluate_starts_with_an_apostrophe(text: str, shown: str) -> None:
    assert safe_text(text) == shown


def test_csv_cells_keep_numbers_plain() -> None:
    assert [csv_value(c) for c in (3.0, 2.5, 3.25, None, "B")] == ["3", "2.5", "3.25", "", "B"]


def test_markers_count_each_kind_in_one_order() -> None:
    assert markers_text(BEN_MATH) == "missing 1; excused 1; incomplete 1"
    assert markers_text(ANA_MATH) == ""


def test_a_download_name_carries_any_class_id_percent_encoded() -> None:
    header_value = attachment("report-card", 'año"7;b', "csv")["Content-Disposition"]
    assert header_value == (
        'attachment; filename="report-card.csv"; '
        "filename*=UTF-8''report-card-a%C3%B1o%227%3Bb.csv"
    )
    header_value.encode("latin-1")  # a header can carry it
