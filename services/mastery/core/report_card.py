"""A class's report card as rows a report-card template imports: one row per student, for each
standard its level, the level's label, the letter (the standard's level bands) and the markers,
and the term. Pure.

A student without scored evidence on a standard (in the term) has empty cells, never a zero;
missing, excused and incomplete work is counted in the standard's markers cell ("missing 1;
excused 1"), never scored. Text cells are made safe for spreadsheets (OWASP CSV injection): a
cell a spreadsheet would read as a formula starts with an apostrophe; numbers stay numbers.
"""

from collections.abc import Iterable, Mapping, Sequence

from services.mastery.core.calculation import calculate
from services.mastery.core.class_rollup import Standing

Cell = str | float | None  # None: an empty cell
MARKERS = ("missing", "excused", "incomplete")
COLUMNS_PER_STANDARD = ("level", "level label", "letter", "markers")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value: str) -> str:
    """`value` as a spreadsheet shows it and never evaluates."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def header(standards: Sequence[str]) -> list[str]:
    """`Student ID`, `Student name`, `Term`, then `<standard> level`, `<standard> level label`,
    `<standard> letter`, `<standard> markers` for each standard in order."""
    columns = ["Student ID", "Student name", "Term"]
    for standard in standards:
        columns += [f"{standard} {column}" for column in COLUMNS_PER_STANDARD]
    return [safe_text(column) for column in columns]


def markers_text(standing: Standing) -> str:
    counts = {status: 0 for status in MARKERS}
    for item in standing.evidence:
        if item.status in counts:
            counts[item.status] += 1
    return "; ".join(f"{status} {n}" for status, n in counts.items() if n)


def _cells(standing: Standing | None) -> list[Cell]:
    if standing is None:
        return [None, None, None, None]
    proficiency = calculate(standing.evidence, standing.policy)
    return [
        proficiency.level,
        proficiency.level_label and safe_text(proficiency.level_label),
        proficiency.letter and safe_text(proficiency.letter),
        markers_text(standing) or None,
    ]


def report_card_rows(
    students: Mapping[str, str | None],
    standards: Sequence[str],
    standings: Iterable[Standing],
    term: str | None,
) -> list[list[Cell]]:
    """A row per student of `students` (id -> display name), by id; a standard's cells are empty
    where the student has no standing on it. `term`: the term's title (None: all evidence)."""
    found = {(s.student_id, s.standard_id): s for s in standings}
    rows = []
    for student in sorted(students):
        name = students[student]
        row: list[Cell] = [safe_text(student), name and safe_text(name), term and safe_text(term)]
        for standard in standards:
            row += _cells(found.get((student, standard)))
        rows.append(row)
    return rows


def csv_value(cell: Cell) -> str:
    """A cell in a CSV file: numbers without a trailing `.0` (3, 3.25), empty for none."""
    if cell is None:
        return ""
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else str(cell)
    return cell
