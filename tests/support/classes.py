"""A class of three students with attempts on two standards, the class reports' fixture: the
rollup, the analytics and the exports are checked against it by hand."""

from typing import Any

from tests.support.oneroster_sample import csv_bytes, header, manifest, zipped
from tests.support.system import System

ZIP = {"Content-Type": "application/zip"}


def attempt(attempt_id: str, student: str, standard: str, score: float, day: int) -> dict[str, Any]:
    return {
        "attempt_id": attempt_id, "student_id": student, "standard_id": standard,
        "score": score, "assessed_at": f"2026-10-{day:02d}T09:00:00Z",
    }  # fmt: skip


async def class_setup(system: System, auth: dict[str, str]) -> None:
    for standard in ("ela.argument", "math.fractions"):
        put = await system.attempts.put(
            f"/v1/standards/{standard}", json={"title": standard}, headers=auth
        )
        assert put.status_code == 201, put.text
    term = [["fall", "active", "2026-08-20T08:00:00.000Z", "Fall", "term", "2026-09-01",
             "2026-10-09", "", "2027"]]  # fmt: skip
    terms = {"manifest.csv": manifest({"academicSessions": "delta"}),
             "academicSessions.csv": csv_bytes(header("academicSessions.csv"), term)}  # fmt: skip
    imported = await system.mastery.post(
        "/v1/rosters/oneroster", content=zipped(terms), headers={**auth, **ZIP}
    )
    assert imported.status_code == 200, imported.text
    made = await system.mastery.put(
        "/v1/classes/7b", json={"title": "Grade 7 B", "term_ids": ["fall"]}, headers=auth
    )
    assert made.status_code == 200, made.text
    for student in ("ana", "ben", "cy"):
        enrolled = await system.mastery.put(f"/v1/classes/7b/students/{student}", headers=auth)
        assert enrolled.status_code == 200, enrolled.text
    # Math: Ana 2, 2, 3, 4 (Oct 1, 5, 11, 20); Ben 3 (Oct 2); Cy 1, 2 (Oct 1, 8).
    # ELA: Ana 3 (Oct 3); Dee (not in the class) 1.
    math, ela = "math.fractions", "ela.argument"
    items = [
        attempt("a1", "ana", math, 2, 1), attempt("a2", "ana", math, 2, 5),
        attempt("a3", "ana", math, 3, 11), attempt("a4", "ana", math, 4, 20),
        attempt("b1", "ben", math, 3, 2), attempt("c1", "cy", math, 1, 1),
        attempt("c2", "cy", math, 2, 8), attempt("a5", "ana", ela, 3, 3),
        attempt("d1", "dee", ela, 1, 3),
    ]  # fmt: skip
    response = await system.attempts.post(
        "/v1/attempts/batch", json={"attempts": items}, headers=auth
    )
    assert response.json()["refused"] == 0, response.text
