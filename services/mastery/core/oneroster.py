"""A OneRoster 1.2 rostering CSV bulk file, read and checked whole: either every bad line of every
file (file, line, field, why), or the roster it describes as roster events. Pure: the files
arrive as bytes, already taken out of their zip.

A user's role comes from the import itself (OneRoster 1.2 keeps roles apart from users.csv):
a user named in another's `agentSourcedIds` is a guardian, one enrolled as a student a student,
one enrolled as a teacher a teacher, anyone else `other` (an update keeps the role on record).
"""

import csv
import io
from collections.abc import Iterator, Mapping
from datetime import date

import msgspec

from services.mastery.core.oneroster_fields import (
    FIELDS,
    LANGUAGE_COLUMN,
    LANGUAGE_PATTERN,
    MANIFEST,
    MANIFEST_VERSION,
    MODES,
    ONEROSTER_VERSION,
)
from shared.contract.events.roster import (
    ClassDefined,
    Defined,
    EnrollmentDefined,
    OrgDefined,
    PersonDefined,
    TermDefined,
)

Row = dict[str, str]
KIND_OF_FILE = {
    "orgs.csv": "org",
    "academicSessions.csv": "term",
    "classes.csv": "class",
    "users.csv": "person",
    "enrollments.csv": "enrollment",
}


class LineError(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    line: int  # 1 is the header; 0: the file as a whole
    field: str | None
    message: str


class RosterImport(msgspec.Struct, frozen=True, kw_only=True):
    """What an import says: per kind, `bulk` (the complete set: what it leaves out is removed) or
    `delta` (changes only); the entities it defines and those it removes (kind, id)."""

    modes: dict[str, str]
    defined: list[Defined]
    removed: list[tuple[str, str]]


class Rows(msgspec.Struct, frozen=True, kw_only=True):
    file: str
    mode: str
    rows: list[tuple[int, Row]]


def read_roster(files: Mapping[str, bytes], tenant_id: str) -> RosterImport | list[LineError]:
    errors: list[LineError] = []
    modes = _manifest(files, errors)
    tables = {
        name: Rows(file=name, mode=mode, rows=list(_rows(name, files[name], mode, errors)))
        for name, mode in modes.items()
        if mode != "absent" and name in files
    }
    errors.extend(_references(tables))
    if errors:
        return errors
    return _roster(tables, tenant_id)


def _manifest(files: Mapping[str, bytes], errors: list[LineError]) -> dict[str, str]:
    if MANIFEST not in files:
        errors.append(LineError(file=MANIFEST, line=0, field=None, message="missing"))
        return {}
    properties: dict[str, str] = {}
    for _, row in _records(MANIFEST, files[MANIFEST], errors, ["propertyName", "value"]):
        properties[row["propertyName"]] = row["value"]
    expected = {"manifest.version": MANIFEST_VERSION, "oneroster.version": ONEROSTER_VERSION}
    for name, value in expected.items():
        if properties.get(name) != value:
            message = f"must be {value!r} (found {properties.get(name)!r})"
            errors.append(LineError(file=MANIFEST, line=0, field=name, message=message))
    return {name: _mode(name, properties, files, errors) for name in FIELDS}


def _mode(
    name: str, properties: dict[str, str], files: Mapping[str, bytes], errors: list[LineError]
) -> str:
    key = f"file.{name.removesuffix('.csv')}"
    mode = properties.get(key, "absent")
    problem = None
    if mode not in MODES:
        problem = f"must be one of {', '.join(MODES)}"
    elif mode != "absent" and name not in files:
        problem = f"says {mode} but the zip has no {name}"
    elif mode == "absent" and name in files:
        problem = f"says absent but the zip has {name}"
    if problem:
        errors.append(LineError(file=MANIFEST, line=0, field=key, message=problem))
        return "absent"
    return mode


def _records(
    name: str, data: bytes, errors: list[LineError], columns: list[str]
) -> Iterator[tuple[int, Row]]:
    """Each data row by its line number, keyed by column; a bad header stops the file."""
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), strict=True)
        header = next(reader, [])
        if header[: len(columns)] != columns or not _extensions(header[len(columns) :]):
            message = f"the header must be {','.join(columns)} (then metadata.* columns only)"
            errors.append(LineError(file=name, line=1, field=None, message=message))
            return
        for values in reader:
            if len(values) != len(header):
                message = f"{len(values)} values for {len(header)} columns"
                errors.append(LineError(file=name, line=reader.line_num, field=None,
                                        message=message))  # fmt: skip
                continue
            yield reader.line_num, dict(zip(header, values, strict=True))
    except UnicodeDecodeError:
        errors.append(LineError(file=name, line=0, field=None, message="not UTF-8"))
    except csv.Error as error:
        errors.append(LineError(file=name, line=reader.line_num, field=None, message=str(error)))


def _extensions(extra: list[str]) -> bool:
    return all(column.startswith("metadata.") for column in extra)


def _rows(name: str, data: bytes, mode: str, errors: list[LineError]) -> Iterator[tuple[int, Row]]:
    seen: dict[str, int] = {}
    fields = FIELDS[name]
    for line, row in _records(name, data, errors, [field.name for field in fields]):
        found = [*_field_errors(name, line, row, mode), *_extension_errors(name, line, row)]
        sourced = row["sourcedId"]
        if sourced in seen:
            message = f"sourcedId repeated (first on line {seen[sourced]})"
            found.append(LineError(file=name, line=line, field="sourcedId", message=message))
        seen.setdefault(sourced, line)
        errors.extend(found)
        if not found:
            yield line, row


def _field_errors(name: str, line: int, row: Row, mode: str) -> Iterator[LineError]:
    for field in FIELDS[name]:
        value = row[field.name]
        required = field.required or (
            mode == "delta" and field.name in ("status", "dateLastModified")
        )
        if not value:
            if required:
                yield LineError(file=name, line=line, field=field.name, message="required")
            continue
        problem = field.check(value)
        if problem:
            yield LineError(file=name, line=line, field=field.name, message=problem)
    if mode == "bulk" and row["status"] == "tobedeleted":
        message = "tobedeleted only in delta mode: a bulk file lists what exists"
        yield LineError(file=name, line=line, field="status", message=message)


def _extension_errors(name: str, line: int, row: Row) -> Iterator[LineError]:
    language = row.get(LANGUAGE_COLUMN, "")
    if language and not LANGUAGE_PATTERN.fullmatch(language):
        message = "not a BCP 47 language tag (e.g. en, es-MX)"
        yield LineError(file=name, line=line, field=LANGUAGE_COLUMN, message=message)


# What each file's rows point at: (file, column, the file the ids must be in, is a list).
REFERENCES = (
    ("classes.csv", "schoolSourcedId", "orgs.csv", False),
    ("classes.csv", "termSourcedIds", "academicSessions.csv", True),
    ("enrollments.csv", "classSourcedId", "classes.csv", False),
    ("enrollments.csv", "userSourcedId", "users.csv", False),
    ("users.csv", "agentSourcedIds", "users.csv", True),
)


def _references(tables: dict[str, Rows]) -> Iterator[LineError]:
    """Ids that must be in a bulk file of this import (a delta may name what is on record)."""
    for name, column, target, listed in REFERENCES:
        if name not in tables or target not in tables or tables[target].mode != "bulk":
            continue
        known = {row["sourcedId"] for _, row in tables[target].rows}
        for line, row in tables[name].rows:
            missing = [ref for ref in _ids(row[column], listed=listed) if ref not in known]
            if missing:
                message = f"not in {target}: {', '.join(missing)}"
                yield LineError(file=name, line=line, field=column, message=message)


def _ids(value: str, *, listed: bool) -> list[str]:
    if not value:
        return []
    return [item.strip() for item in value.split(",")] if listed else [value]


def _roster(tables: dict[str, Rows], tenant_id: str) -> RosterImport:
    roles = _roles(tables)
    defined: list[Defined] = []
    removed: list[tuple[str, str]] = []
    for name, table in tables.items():
        kind = KIND_OF_FILE[name]
        for _, row in table.rows:
            if row["status"] == "tobedeleted":
                removed.append((kind, row["sourcedId"]))
            else:
                defined.append(_entity(name, row, tenant_id, roles))
    modes = {KIND_OF_FILE[name]: table.mode for name, table in tables.items()}
    return RosterImport(modes=modes, defined=defined, removed=removed)


def _roles(tables: dict[str, Rows]) -> dict[str, str]:
    roles: dict[str, str] = {}
    for _, row in tables["enrollments.csv"].rows if "enrollments.csv" in tables else []:
        if row["role"] in ("student", "teacher") and row["status"] != "tobedeleted":
            roles.setdefault(row["userSourcedId"], row["role"])
    for _, row in tables["users.csv"].rows if "users.csv" in tables else []:
        for guardian in _ids(row["agentSourcedIds"], listed=True):
            roles.setdefault(guardian, "guardian")
    return roles


def _entity(name: str, row: Row, tenant_id: str, roles: dict[str, str]) -> Defined:
    if name == "orgs.csv":
        return OrgDefined(
            tenant_id=tenant_id, org_id=row["sourcedId"], name=row["name"], org_type=row["type"],
            parent_id=row["parentSourcedId"] or None,
        )  # fmt: skip
    if name == "academicSessions.csv":
        return TermDefined(
            tenant_id=tenant_id, term_id=row["sourcedId"], title=row["title"],
            term_type=row["type"], start_date=date.fromisoformat(row["startDate"]),
            end_date=date.fromisoformat(row["endDate"]), school_year=int(row["schoolYear"]),
            parent_id=row["parentSourcedId"] or None,
        )  # fmt: skip
    if name == "classes.csv":
        return ClassDefined(
            tenant_id=tenant_id, class_id=row["sourcedId"], title=row["title"],
            school_id=row["schoolSourcedId"], class_code=row["classCode"] or None,
            term_ids=tuple(_ids(row["termSourcedIds"], listed=True)),
        )  # fmt: skip
    if name == "users.csv":
        return PersonDefined(
            tenant_id=tenant_id, person_id=row["sourcedId"],
            role=roles.get(row["sourcedId"], "other"), given_name=row["givenName"],
            family_name=row["familyName"], preferred_name=row["preferredGivenName"] or None,
            email=row["email"] or None, language=row.get(LANGUAGE_COLUMN) or None,
            guardian_ids=tuple(_ids(row["agentSourcedIds"], listed=True)),
        )  # fmt: skip
    return EnrollmentDefined(
        tenant_id=tenant_id, enrollment_id=row["sourcedId"], class_id=row["classSourcedId"],
        person_id=row["userSourcedId"], role=row["role"],
        begin_date=date.fromisoformat(row["beginDate"]) if row["beginDate"] else None,
        end_date=date.fromisoformat(row["endDate"]) if row["endDate"] else None,
    )  # fmt: skip
