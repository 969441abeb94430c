"""A OneRoster 1.2 rostering CSV bulk zip of one school, generated: classes, students with one or
two guardians each (as `agentSourcedIds`), a teacher per class, and each student enrolled in
`classes_per_student` classes. Deterministic, so a test knows every count.

`python -m tests.support.oneroster_sample OUT.zip` writes the 1 school, 30 classes, 700 students
sample.
"""

import csv
import io
import sys
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from services.mastery.core.oneroster_fields import FIELDS, LANGUAGE_COLUMN

STAMP = "2026-08-20T08:00:00.000Z"
SCHOOL = "org-school-1"
TERMS = (
    ("term-2026", "2026-2027", "schoolYear", "2026-08-24", "2027-06-11", ""),
    ("term-2026-s1", "Fall 2026", "semester", "2026-08-24", "2027-01-15", "term-2026"),
)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def header(name: str, extra: Sequence[str] = ()) -> list[str]:
    return [field.name for field in FIELDS[name]] + list(extra)


def manifest(modes: dict[str, str]) -> bytes:
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
    for name in ("academicSessions", "classes", "enrollments", "orgs", "users"):
        rows.append((f"file.{name}", modes.get(name, "absent")))
    rows.append(("source.systemName", "sample"))
    return csv_bytes(["propertyName", "value"], rows)


def user_row(sourced: str, given: str, family: str, **fields: str) -> list[str]:
    values = {
        "sourcedId": sourced, "status": "active", "dateLastModified": STAMP,
        "enabledUser": "true", "username": sourced, "givenName": given, "familyName": family,
    }  # fmt: skip
    values.update(fields)
    return [values.get(column, "") for column in header("users.csv", [LANGUAGE_COLUMN])]


def sample_files(
    classes: int = 30, students: int = 700, classes_per_student: int = 2
) -> dict[str, bytes]:
    org = [[SCHOOL, "active", STAMP, "Sample School", "school", "S1", ""]]
    terms = [[t[0], "active", STAMP, t[1], t[2], t[3], t[4], t[5], "2027"] for t in TERMS]
    klasses = [
        [f"class-{c:02d}", "active", STAMP, f"Class {c:02d}", "7", f"course-{c % 6}",
         f"C{c:02d}", "scheduled", "", SCHOOL, "term-2026-s1", "", "", ""]
        for c in range(classes)
    ]  # fmt: skip
    users, enrollments = [], []
    for c in range(classes):
        users.append(user_row(f"teacher-{c:02d}", "Teacher", f"T{c:02d}"))
        enrollments.append(_enrollment(f"e-t-{c:02d}", c, f"teacher-{c:02d}", "teacher"))
    for s in range(students):
        guardians = [f"guardian-{s:04d}-{g}" for g in range(1 + s % 2)]
        users.append(
            user_row(f"student-{s:04d}", f"Given{s}", f"Family{s}",
                     agentSourcedIds=",".join(guardians))
        )  # fmt: skip
        for g, guardian in enumerate(guardians):
            language = "es" if s % 3 == 0 else "en"
            extra = {"email": f"{guardian}@example.org", LANGUAGE_COLUMN: language}
            users.append(user_row(guardian, f"Parent{g}", f"Family{s}", **extra))
        for k in range(classes_per_student):
            c = (s + k * 7) % classes
            enrollments.append(_enrollment(f"e-{s:04d}-{k}", c, f"student-{s:04d}", "student"))
    modes = dict.fromkeys(("orgs", "academicSessions", "classes", "users", "enrollments"), "bulk")
    return {
        "manifest.csv": manifest(modes),
        "orgs.csv": csv_bytes(header("orgs.csv"), org),
        "academicSessions.csv": csv_bytes(header("academicSessions.csv"), terms),
        "classes.csv": csv_bytes(header("classes.csv"), klasses),
        "users.csv": csv_bytes(header("users.csv", [LANGUAGE_COLUMN]), users),
        "enrollments.csv": csv_bytes(header("enrollments.csv"), enrollments),
    }


def _enrollment(sourced: str, class_number: int, user: str, role: str) -> list[str]:
    return [sourced, "active", STAMP, f"class-{class_number:02d}", SCHOOL, user, role, "false",
            "", ""]  # fmt: skip


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


if __name__ == "__main__":
    Path(sys.argv[1]).write_bytes(zipped(sample_files()))
