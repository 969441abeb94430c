"""Reading a OneRoster 1.2 CSV bulk zip: every bad line reported, roles from the import, and the
roster events an import records against the roster on record."""

from collections import Counter
from datetime import date

from services.mastery.adapters.roster_import import unzip
from services.mastery.core.oneroster import LineError, RosterImport, read_roster
from services.mastery.core.oneroster_fields import LANGUAGE_COLUMN
from services.mastery.core.roster import enroll, key_of, roster_changes
from shared.contract.events.roster import (
    ClassDefined,
    EnrollmentDefined,
    PersonDefined,
    RosterRemoved,
    TermDefined,
    decode_roster_change,
    encode_roster_change,
    kind_of,
)
from tests.support.oneroster_sample import (
    csv_bytes,
    header,
    manifest,
    sample_files,
    user_row,
    zipped,
)

TENANT = "school-a"
USERS = header("users.csv", [LANGUAGE_COLUMN])


def read(files: dict[str, bytes]) -> RosterImport:
    found = read_roster(files, TENANT)
    assert isinstance(found, RosterImport), found
    return found


def errors_of(files: dict[str, bytes]) -> list[LineError]:
    found = read_roster(files, TENANT)
    assert isinstance(found, list), "expected errors"
    return found


def test_the_sample_reads_as_every_entity_with_its_role() -> None:
    roster = read(sample_files(classes=3, students=10, classes_per_student=2))
    kinds = Counter(kind_of(event) for event in roster.defined)
    # 3 teachers, 10 students, 15 guardians (one for even students, two for odd ones).
    assert kinds == {"org": 1, "term": 2, "class": 3, "person": 28, "enrollment": 23}
    roles = Counter(e.role for e in roster.defined if isinstance(e, PersonDefined))
    assert roles == {"teacher": 3, "student": 10, "guardian": 15}
    student = next(e for e in roster.defined if key_of(e) == ("person", "student-0001"))
    assert isinstance(student, PersonDefined)
    assert student.guardian_ids == ("guardian-0001-0", "guardian-0001-1")
    assert student.display_name == "Given1 Family1"
    guardian = next(e for e in roster.defined if key_of(e) == ("person", "guardian-0000-0"))
    assert isinstance(guardian, PersonDefined)
    assert (guardian.email, guardian.language) == ("guardian-0000-0@example.org", "es")
    term = next(e for e in roster.defined if isinstance(e, TermDefined))
    assert (term.start_date, term.end_date, term.school_year) == (
        date(2026, 8, 24), date(2027, 6, 11), 2027,
    )  # fmt: skip
    klass = next(e for e in roster.defined if isinstance(e, ClassDefined))
    assert klass.term_ids == ("term-2026-s1",)
    assert roster.modes == dict.fromkeys(("org", "term", "class", "person", "enrollment"), "bulk")


def test_every_bad_line_of_every_file_is_reported_and_nothing_is_read() -> None:
    files = sample_files(classes=2, students=4)
    users = files["users.csv"].decode().split("\r\n")
    users[2] = users[2].replace("true", "yes", 1)  # enabledUser of line 3
    files["users.csv"] = "\r\n".join(users).encode()
    classes = files["classes.csv"].decode().split("\r\n")
    classes[1] = classes[1].replace("scheduled", "lecture")
    classes[2] = classes[2].replace("term-2026-s1", "term-9")
    files["classes.csv"] = "\r\n".join(classes).encode()
    files["orgs.csv"] += b"org-school-1,active,yesterday,Again,school,S2,\r\n"
    found = {(e.file, e.line, e.field): e.message for e in errors_of(files)}
    assert found[("users.csv", 3, "enabledUser")] == "must be true or false"
    assert found[("classes.csv", 2, "classType")] == "must be one of homeroom, scheduled"
    assert found[("classes.csv", 3, "termSourcedIds")] == "not in academicSessions.csv: term-9"
    assert found[("orgs.csv", 3, "dateLastModified")].startswith("not an ISO 8601 date-time")
    assert found[("orgs.csv", 3, "sourcedId")] == "sourcedId repeated (first on line 2)"


def test_a_required_field_left_empty_and_a_short_line_are_named() -> None:
    files = sample_files(classes=1, students=1)
    bad_user = user_row("student-x", "", "Family")
    users = files["users.csv"] + csv_bytes([], [bad_user]).lstrip(b"\r\n") + b"a,b\r\n"
    files["users.csv"] = users
    found = {(e.file, e.field): (e.line, e.message) for e in errors_of(files)}
    lines = files["users.csv"].count(b"\r\n")
    assert found[("users.csv", "givenName")] == (lines - 1, "required")
    assert found[("users.csv", None)] == (lines, "2 values for 24 columns")


def test_a_header_out_of_the_specifications_order_stops_that_file() -> None:
    files = sample_files(classes=1, students=1)
    columns = header("orgs.csv")
    columns[3], columns[4] = columns[4], columns[3]
    files["orgs.csv"] = csv_bytes(columns, [])
    [error] = [e for e in errors_of(files) if e.file == "orgs.csv"]
    assert (error.line, error.field) == (1, None)
    assert error.message.startswith("the header must be sourcedId,status,dateLastModified,name")


def test_the_manifest_must_say_1_2_and_match_the_files() -> None:
    files = sample_files(classes=1, students=1)
    files["manifest.csv"] = manifest({"orgs": "bulk", "classes": "sometimes"}).replace(
        b"1.2", b"1.1"
    )
    found = {(e.file, e.field): e.message for e in errors_of(files)}
    assert found[("manifest.csv", "oneroster.version")] == "must be '1.2' (found '1.1')"
    assert found[("manifest.csv", "file.classes")] == "must be one of bulk, delta, absent"
    assert found[("manifest.csv", "file.users")] == "says absent but the zip has users.csv"
    assert errors_of({})[0] == LineError(file="manifest.csv", line=0, field=None, message="missing")


def test_delta_files_need_status_and_date_and_bulk_files_cannot_delete() -> None:
    users = [user_row("student-1", "A", "B", status="", dateLastModified="")]
    files = {
        "manifest.csv": manifest({"users": "delta", "orgs": "bulk"}),
        "users.csv": csv_bytes(USERS, users),
        "orgs.csv": csv_bytes(header("orgs.csv"), [["o1", "tobedeleted", "", "O", "school",
                                                     "", ""]]),
    }  # fmt: skip
    found = {(e.file, e.field): e.message for e in errors_of(files)}
    assert found[("users.csv", "status")] == "required"
    assert found[("users.csv", "dateLastModified")] == "required"
    assert found[("orgs.csv", "status")].startswith("tobedeleted only in delta mode")


def test_bytes_that_are_not_utf8_are_one_error_of_their_file() -> None:
    files = sample_files(classes=1, students=1)
    files["orgs.csv"] = b"\xff\xfe" + files["orgs.csv"]
    assert [e.message for e in errors_of(files) if e.file == "orgs.csv"] == ["not UTF-8"]


def test_importing_the_same_roster_again_records_nothing() -> None:
    roster = read(sample_files(classes=2, students=5))
    first = roster_changes({}, roster, TENANT)
    assert len(first) == len(roster.defined)
    on_record = {key_of(e): e for e in first if not isinstance(e, RosterRemoved)}
    assert roster_changes(on_record, roster, TENANT) == []
    # The log's encoding reads back as the same events.
    assert [decode_roster_change(encode_roster_change(e)) for e in first] == first


def test_a_bulk_file_removes_what_it_leaves_out_and_a_delta_file_what_it_deletes() -> None:
    on_record = {key_of(e): e for e in read(sample_files(classes=2, students=5)).defined}
    smaller = read(sample_files(classes=2, students=4))
    removed = [
        e for e in roster_changes(on_record, smaller, TENANT) if isinstance(e, RosterRemoved)
    ]
    # Student 4, its guardian, its two enrollments; enrollments go first.
    assert [(e.kind, e.entity_id) for e in removed] == [
        ("enrollment", "e-0004-0"), ("enrollment", "e-0004-1"),
        ("person", "guardian-0004-0"), ("person", "student-0004"),
    ]  # fmt: skip
    delta_users = [user_row("student-0001", "Renamed", "Family1"),
                   user_row("student-0002", "x", "y", status="tobedeleted")]  # fmt: skip
    delta = read({"manifest.csv": manifest({"users": "delta"}),
                  "users.csv": csv_bytes(USERS, delta_users)})  # fmt: skip
    changes = roster_changes(on_record, delta, TENANT)
    renamed, gone = changes
    # No enrollment in a delta of users alone: the role on record stays.
    assert isinstance(renamed, PersonDefined)
    assert (renamed.given_name, renamed.role) == ("Renamed", "student")
    assert gone == RosterRemoved(tenant_id=TENANT, kind="person", entity_id="student-0002")


def test_enrolling_twice_through_the_class_api_records_once() -> None:
    [event] = enroll({}, TENANT, "class-a", "student-1")
    assert isinstance(event, EnrollmentDefined)
    assert enroll({key_of(event): event}, TENANT, "class-a", "student-1") == []
    assert (event.class_id, event.person_id, event.role) == ("class-a", "student-1", "student")


def test_a_zip_that_is_not_one_or_is_damaged_is_one_error() -> None:
    assert unzip(b"plain text") == [
        LineError(file="(zip)", line=0, field=None, message="not a zip file")
    ]
    whole = zipped({"manifest.csv": manifest({}) * 50})
    # Corrupt the deflated data of the one member (its header and directory stay intact).
    damaged = whole[:40] + bytes(b ^ 0xFF for b in whole[40:60]) + whole[60:]
    found = unzip(damaged)
    assert isinstance(found, list)
    [error] = found
    assert error.file == "(zip)"
    assert error.message.startswith(("a file in the zip cannot be read", "not a zip file"))
    files = unzip(zipped({"sub/orgs.csv": b"x", "notes.txt": b"y"}))
    assert files == {"orgs.csv": b"x"}
