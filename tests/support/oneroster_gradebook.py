"""The OneRoster 1.2 Gradebook records' field lists, written down from the specification (the
REST binding's required and optional properties, the CSV binding's columns) independently of the
code under test, and a checker that lists every way a record breaks them: a required field
missing, an unknown field, an enum out of range, a date or date-time out of format, a GUIDRef
without `href`/`sourcedId`/`type` or of the wrong type, and a reference that resolves to no
record sent (or no student or class of the roster)."""

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

STATUS = {"active", "tobedeleted"}
SCORE_STATUS = {"exempt", "fully graded", "not submitted", "partially graded", "submitted"}
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$")
BASE = ("sourcedId", "status", "dateLastModified")

# (required, optional) properties of each REST record.
FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "category": ({*BASE, "title"}, {"metadata", "weight"}),
    "scoreScale": (
        {*BASE, "title", "type", "class", "scoreScaleValue"},
        {"metadata", "course"},
    ),
    "lineItem": (
        {*BASE, "title", "assignDate", "dueDate", "class", "category"},
        {
            "metadata",
            "description",
            "school",
            "gradingPeriod",
            "academicSession",
            "scoreScale",
            "resultValueMin",
            "resultValueMax",
            "learningObjectiveSet",
        },
    ),
    "result": (
        {*BASE, "lineItem", "student", "scoreStatus", "scoreDate"},
        {
            "metadata",
            "class",
            "scoreScale",
            "score",
            "textScore",
            "comment",
            "learningObjectiveSet",
            "inProgress",
            "incomplete",
            "late",
            "missing",
        },
    ),
}
# GUIDRef properties of each record and the type they must name.
REFS: dict[str, dict[str, str]] = {
    "scoreScale": {"class": "class", "course": "course"},
    "lineItem": {"class": "class", "category": "category", "school": "org",
                 "gradingPeriod": "academicSession", "scoreScale": "scoreScale"},
    "result": {"lineItem": "lineItem", "student": "user", "class": "class",
               "scoreScale": "scoreScale"},
}  # fmt: skip
# The CSV binding's columns, in order.
CSV_COLUMNS = {
    "categories.csv": ["sourcedId", "status", "dateLastModified", "title", "weight"],
    "scoreScales.csv": ["sourcedId", "status", "dateLastModified", "title", "type",
                        "courseSourcedId", "classSourcedId", "scoreScaleValue"],
    "lineItems.csv": ["sourcedId", "status", "dateLastModified", "title", "description",
                      "assignDate", "dueDate", "classSourcedId", "categorySourcedId",
                      "gradingPeriodSourcedId", "resultValueMin", "resultValueMax",
                      "schoolSourcedId"],
    "results.csv": ["sourcedId", "status", "dateLastModified", "lineItemSourcedId",
                    "studentSourcedId", "scoreStatus", "score", "textScore", "scoreDate",
                    "comment", "missing", "incomplete"],
    "lineItemLearningObjectiveIds.csv": ["lineItemSourcedId", "source", "learningObjectiveId"],
    "lineItemScoreScales.csv": ["lineItemSourcedId", "scoreScaleSourcedId"],
    "resultLearningObjectiveIds.csv": ["resultSourcedId", "source", "learningObjectiveId",
                                       "score", "textScore"],
    "resultScoreScales.csv": ["resultSourcedId", "scoreScaleSourcedId"],
}  # fmt: skip
BOOLEAN_TEXT = {"true", "false"}


def _is_date(value: object) -> bool:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        return False
    return len(str(value)) == 10


def record_errors(kind: str, record: Mapping[str, Any]) -> list[str]:
    required, optional = FIELDS[kind]
    name = f"{kind} {record.get('sourcedId')}"
    errors = [f"{name}: {field} missing" for field in sorted(required - set(record))]
    errors += [f"{name}: {field} unknown" for field in sorted(set(record) - required - optional)]
    if record.get("status") not in STATUS:
        errors.append(f"{name}: status {record.get('status')!r}")
    for field in ("dateLastModified", "assignDate", "dueDate"):
        if field in record and not DATE_TIME.match(str(record[field])):
            errors.append(f"{name}: {field} {record[field]!r} is not a UTC date-time")
    if kind == "result":
        if record.get("scoreStatus") not in SCORE_STATUS:
            errors.append(f"{name}: scoreStatus {record.get('scoreStatus')!r}")
        if not _is_date(record.get("scoreDate")):
            errors.append(f"{name}: scoreDate {record.get('scoreDate')!r} is not a date")
        flags = ("inProgress", "incomplete", "late", "missing")
        errors += [
            f"{name}: {flag} not true/false"
            for flag in flags
            if flag in record and record[flag] not in BOOLEAN_TEXT
        ]
    for field, kind_named in REFS.get(kind, {}).items():
        ref = record.get(field)
        if ref is not None and (
            set(ref) != {"href", "sourcedId", "type"} or ref["type"] != kind_named
        ):
            errors.append(f"{name}: {field} is not a GUIDRef to a {kind_named}: {ref!r}")
    return errors


def gradebook_errors(
    collections: Mapping[str, Iterable[Mapping[str, Any]]],
    known: Mapping[str, set[str]],
) -> list[str]:
    """Every error of the records (`collections`: kind -> records), with each GUIDRef resolved in
    the records sent or in `known` (kind -> sourcedIds of the roster: users, classes, orgs)."""
    sent = {kind: {r["sourcedId"] for r in records} for kind, records in collections.items()}
    errors = []
    for kind, records in collections.items():
        for record in records:
            errors += record_errors(kind, record)
            for field, kind_named in REFS.get(kind, {}).items():
                ref = record.get(field)
                ids = sent.get(kind_named, set()) | known.get(kind_named, set())
                if ref is not None and ref.get("sourcedId") not in ids:
                    errors.append(f"{kind} {record['sourcedId']}: {field} resolves to nothing")
    return errors
