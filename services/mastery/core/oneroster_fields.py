"""The OneRoster 1.2 rostering CSV files this service reads: each file's columns in the order the
specification lists them, which are required, and what each field may hold. Pure.

Every column of a file's field list must be in its header, in that order (a value may be empty
unless required); extension columns follow, named `metadata.<name>`. In bulk mode `status` and
`dateLastModified` may be empty; in delta mode both are required.
"""

import re
from collections.abc import Callable
from datetime import date, datetime

from shared.contract.ids import is_valid_opaque_id

Check = Callable[[str], str | None]  # a present value -> why it is wrong, or None


def _enum(*allowed: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}"

    return check


def sourced_id(value: str) -> str | None:
    if is_valid_opaque_id(value):
        return None
    return "not a valid sourcedId (1-128 characters; no slash, space or control character)"


def sourced_ids(value: str) -> str | None:
    bad = [item for item in value.split(",") if not is_valid_opaque_id(item.strip())]
    return f"not valid sourcedIds: {bad!r}" if bad else None


def iso_date(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return "not a date (YYYY-MM-DD)"
    return None if len(value) == 10 else "not a date (YYYY-MM-DD)"


def iso_datetime(value: str) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "not an ISO 8601 date-time (e.g. 2026-09-01T00:00:00.000Z)"
    return None if parsed.tzinfo is not None else "a date-time needs a UTC offset (Z)"


def year(value: str) -> str | None:
    return None if re.fullmatch(r"[0-9]{4}", value) else "not a year (YYYY)"


def boolean(value: str) -> str | None:
    return None if value in ("true", "false") else "must be true or false"


def text(value: str) -> str | None:
    return None if value.isprintable() else "holds a control character or a line break"


STATUS = _enum("active", "tobedeleted")


class Field:
    __slots__ = ("check", "name", "required")

    def __init__(self, name: str, check: Check = text, *, required: bool = False) -> None:
        self.name, self.check, self.required = name, check, required


def _common() -> list[Field]:
    return [
        Field("sourcedId", sourced_id, required=True),
        Field("status", STATUS),
        Field("dateLastModified", iso_datetime),
    ]


FIELDS: dict[str, list[Field]] = {
    "orgs.csv": [
        *_common(),
        Field("name", required=True),
        Field(
            "type",
            _enum("department", "school", "district", "local", "state", "national"),
            required=True,
        ),
        Field("identifier"),
        Field("parentSourcedId", sourced_id),
    ],
    "academicSessions.csv": [
        *_common(),
        Field("title", required=True),
        Field("type", _enum("gradingPeriod", "semester", "schoolYear", "term"), required=True),
        Field("startDate", iso_date, required=True),
        Field("endDate", iso_date, required=True),
        Field("parentSourcedId", sourced_id),
        Field("schoolYear", year, required=True),
    ],
    "classes.csv": [
        *_common(),
        Field("title", required=True),
        Field("grades"),
        Field("courseSourcedId", sourced_id, required=True),
        Field("classCode"),
        Field("classType", _enum("homeroom", "scheduled"), required=True),
        Field("location"),
        Field("schoolSourcedId", sourced_id, required=True),
        Field("termSourcedIds", sourced_ids, required=True),
        Field("subjects"),
        Field("subjectCodes"),
        Field("periods"),
    ],
    "users.csv": [
        *_common(),
        Field("enabledUser", boolean, required=True),
        Field("username", required=True),
        Field("userIds"),
        Field("givenName", required=True),
        Field("familyName", required=True),
        Field("middleName"),
        Field("identifier"),
        Field("email"),
        Field("sms"),
        Field("phone"),
        Field("agentSourcedIds", sourced_ids),
        Field("grades"),
        Field("password"),
        Field("userMasterIdentifier"),
        Field("resourceSourcedIds", sourced_ids),
        Field("preferredGivenName"),
        Field("preferredMiddleName"),
        Field("preferredFamilyName"),
        Field("primaryOrgSourcedId", sourced_id),
        Field("pronouns"),
    ],
    "enrollments.csv": [
        *_common(),
        Field("classSourcedId", sourced_id, required=True),
        Field("schoolSourcedId", sourced_id, required=True),
        Field("userSourcedId", sourced_id, required=True),
        Field(
            "role",
            _enum("administrator", "proctor", "student", "teacher", "aide", "guardian"),
            required=True,
        ),
        Field("primary", boolean),
        Field("beginDate", iso_date),
        Field("endDate", iso_date),
    ],
}
# In the order a school's data depends on: a class names its school and terms, an enrollment its
# class and user.
ROSTER_FILES = tuple(FIELDS)
MANIFEST = "manifest.csv"
MANIFEST_VERSION = "1.0"
ONEROSTER_VERSION = "1.2"
MODES = ("bulk", "delta", "absent")
# Extension columns the import reads: a guardian's language for family emails (BCP 47).
LANGUAGE_COLUMN = "metadata.language"
LANGUAGE_PATTERN = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")
